"""Duplicates by content hash, per owner: every upload path answers with the
owner's existing image (200, duplicate: true) instead of storing a copy, unless
the client asks for one; no blob, no quota charge, no reservation is left."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tests.conftest import LiveServer
from tests.factories import (
    UserHandle,
    assert_problem,
    image_bytes,
    make_user,
    upload,
    wait_processed,
)
from tests.integration.quotas.helpers import (
    originals,
    presign,
    put_presigned,
    reservations,
    stored,
    usage,
)
from tests.integration.tus.helpers import create, leftovers, status, upload_whole


def original(client: httpx.Client, user: UserHandle, data: bytes) -> dict[str, Any]:
    r = upload(client, user, data=data, allowDuplicate="false")
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    assert body["duplicate"] is False
    # Processed, so that its derivatives are counted before usage is compared.
    wait_processed(client, user, body["imageId"])
    return body


def test_multipart_duplicate_answers_the_existing_image(
    live: LiveServer, client: httpx.Client
) -> None:
    user = make_user(client)
    data = image_bytes(color=(1, 2, 3))
    first = original(client, user, data)
    before = usage(client, user)
    stored_before = originals(live)

    r = upload(client, user, data=data, allowDuplicate="false", title="again")
    assert r.status_code == 200, r.text
    again = r.json()
    assert again["duplicate"] is True
    assert again["imageId"] == first["imageId"]
    assert again["title"] == first["title"]  # the existing image, unchanged
    # Nothing stored, nothing charged, no reservation left behind.
    assert originals(live) == stored_before
    assert usage(client, user) == before
    assert reservations(live) == []
    listing = client.get(f"/v1/users/{user.user_id}/images", headers=user.headers).json()
    assert listing["total"] == 1

    # Asked for a copy: a new image.
    r = upload(client, user, data=data, allowDuplicate="true")
    assert r.status_code == 201, r.text
    assert r.json()["imageId"] != first["imageId"] and r.json()["duplicate"] is False


def test_duplicates_are_per_owner_and_ignore_the_trash(client: httpx.Client) -> None:
    alice, bob = make_user(client), make_user(client)
    data = image_bytes(color=(4, 5, 6))
    mine = original(client, alice, data)
    # Someone else's copy is not yours: stored for bob.
    theirs = original(client, bob, data)
    assert theirs["imageId"] != mine["imageId"]
    # A trashed image does not count: the upload stores a new one.
    r = client.delete(f"/v1/images/{mine['imageId']}", headers=alice.headers)
    assert r.status_code == 200, r.text
    again = original(client, alice, data)
    assert again["imageId"] != mine["imageId"]


def test_a_batch_with_the_same_file_twice_stores_it_once(client: httpx.Client) -> None:
    user = make_user(client)
    data = image_bytes(color=(7, 8, 9))
    other = image_bytes(color=(9, 8, 7))
    r = client.post(
        "/v1/images",
        headers=user.headers,
        files=[("file", ("a.jpg", data)), ("file", ("b.jpg", data)), ("file", ("c.jpg", other))],
    )
    assert r.status_code == 201, r.text
    images = r.json()["images"]
    assert [i["duplicate"] for i in images] == [False, True, False]
    assert images[0]["imageId"] == images[1]["imageId"] != images[2]["imageId"]
    # Every file a duplicate: nothing new, so 200.
    r = client.post(
        "/v1/images",
        headers=user.headers,
        files=[("file", ("a.jpg", data)), ("file", ("c.jpg", other))],
    )
    assert r.status_code == 200, r.text
    assert all(i["duplicate"] for i in r.json()["images"])


def test_allow_duplicate_must_be_a_boolean(client: httpx.Client) -> None:
    user = make_user(client)
    r = upload(client, user, data=image_bytes(color=(1, 1, 1)), allowDuplicate="maybe")
    assert_problem(r, 422, "validation_error")


def test_presigned_finalize_of_a_duplicate(live: LiveServer, client: httpx.Client) -> None:
    user = make_user(client)
    data = image_bytes(color=(10, 11, 12))
    first = original(client, user, data)
    before = usage(client, user)
    stored_before = originals(live)

    upload_id = put_presigned(presign(client, user, data), data)
    r = client.post("/v1/images", headers=user.headers, json={"uploadId": upload_id})
    assert r.status_code == 200, r.text
    assert r.json()["duplicate"] is True and r.json()["imageId"] == first["imageId"]
    state = client.get(f"/v1/uploads/{upload_id}", headers=user.headers).json()
    assert state["status"] == "completed" and state["duplicate"] is True
    assert state["imageId"] == first["imageId"]
    # The upload's object went, its reservation was released, nothing was charged.
    assert originals(live) == stored_before
    assert not [k for k in stored(live) if upload_id in k]
    assert reservations(live) == []
    assert usage(client, user) == before
    # Finalizing again: already done.
    r = client.post("/v1/images", headers=user.headers, json={"uploadId": upload_id})
    assert_problem(r, 409, "upload_already_finalized")

    # allowDuplicate: a copy.
    upload_id = put_presigned(presign(client, user, data), data)
    r = client.post(
        "/v1/images", headers=user.headers, json={"uploadId": upload_id, "allowDuplicate": True}
    )
    assert r.status_code == 201, r.text
    assert r.json()["duplicate"] is False and r.json()["imageId"] != first["imageId"]


def test_tus_upload_of_a_duplicate(live: LiveServer, client: httpx.Client) -> None:
    user = make_user(client)
    data = image_bytes(color=(13, 14, 15))
    first = original(client, user, data)
    before = usage(client, user)
    stored_before = originals(live)

    path = upload_whole(client, user, data, filename="again.jpg")
    state = status(client, user, path)
    assert state["status"] == "completed" and state["duplicate"] is True
    assert state["imageId"] == first["imageId"]
    assert originals(live) == stored_before
    assert leftovers(live.settings) == []
    assert reservations(live) == []
    assert usage(client, user) == before

    # allowDuplicate in Upload-Metadata: a copy.
    path = upload_whole(client, user, data, allowDuplicate="true")
    state = status(client, user, path)
    assert state["duplicate"] is False and state["imageId"] != first["imageId"]
    # A bad value is refused when the upload is created.
    refused = create(client, user, len(data), None, allowDuplicate="yes")
    assert_problem(refused, 422, "validation_error")


def test_concurrent_uploads_of_the_same_new_bytes(client: httpx.Client) -> None:
    """Decided: no lock. Both may find no copy and both store one (or one finds
    the other's); either way every answer is a success, never a 500."""
    user = make_user(client)
    data = image_bytes(color=(16, 17, 18))
    with ThreadPoolExecutor(4) as pool:
        answers = list(
            pool.map(lambda _: upload(client, user, data=data, allowDuplicate="false"), range(4))
        )
    assert all(r.status_code in (200, 201) for r in answers), [r.text for r in answers]
    assert any(r.status_code == 201 for r in answers)
    for r in answers:
        assert r.json()["duplicate"] is (r.status_code == 200)
