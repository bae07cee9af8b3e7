"""Seed acceptance: over-quota uploads are rejected with a clear error (413
problem+json, ``quota_exceeded`` with used, quota and requested bytes) on
every upload path, and nothing is stored."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import assert_problem, image_bytes, make_user, upload
from tests.integration.quotas.helpers import (
    originals,
    presign,
    put_presigned,
    reservations,
    server,
    stored,
    usage,
)
from tests.integration.tus.helpers import TUS, create, created_path, patch, status, upload_ids
from tests.integration.uploads.test_consistency import _install_trigger_and_list

DATA = image_bytes(size=(64, 48))
SIZE = len(DATA)
# Room for one image and a half.
QUOTA = SIZE + SIZE // 2


def assert_over_quota(r: httpx.Response, used: int, requested: int, quota: int = QUOTA) -> None:
    body = assert_problem(r, 413, "quota_exceeded")
    assert (body["used"], body["quota"], body["requested"]) == (used, quota, requested), body
    assert "storage quota" in body["detail"], body["detail"]


def test_direct_single_upload_over_quota_is_refused_and_nothing_is_stored(
    settings_factory: Any,
) -> None:
    with server(settings_factory, quota_free=QUOTA, run_worker=False) as (live, client):
        user = make_user(client)
        assert upload(client, user, data=DATA).status_code == 201
        r = upload(client, user, data=DATA)
        assert_over_quota(r, used=SIZE, requested=SIZE)
        assert len(originals(live)) == 1
        body = usage(client, user)
        assert (body["originalsBytes"], body["images"], body["reservedBytes"]) == (SIZE, 1, 0)
        assert reservations(live) == []


def test_batch_accepts_what_fits_and_refuses_the_rest(settings_factory: Any) -> None:
    with server(settings_factory, quota_free=QUOTA, run_worker=False) as (live, client):
        user = make_user(client)
        files = [("file", (f"{i}.jpg", DATA, "image/jpeg")) for i in range(2)]
        # The same bytes twice: copies are asked for (else the second is the duplicate).
        copies = {"allowDuplicate": "true"}
        r = client.post("/v1/images", headers=user.headers, files=files, data=copies)
        assert r.status_code == 201, r.text
        body = r.json()
        assert len(body["images"]) == 1
        assert [e["code"] for e in body["errors"]] == ["quota_exceeded"]
        # Nothing fits any more: the whole batch is refused.
        r = client.post("/v1/images", headers=user.headers, files=files, data=copies)
        problem = assert_problem(r, 413, "quota_exceeded")
        assert [e["code"] for e in problem["errors"]] == ["quota_exceeded"] * 2
        assert len(originals(live)) == 1
        assert usage(client, user)["originalsBytes"] == SIZE
        assert reservations(live) == []


def test_presigned_reserves_at_creation_and_converts_at_finalize(settings_factory: Any) -> None:
    with server(settings_factory, quota_free=QUOTA, run_worker=False) as (live, client):
        user = make_user(client)
        first = presign(client, user, DATA)
        assert first.status_code == 201, first.text
        assert usage(client, user)["reservedBytes"] == SIZE
        # The first upload's declared size is held: a second does not fit.
        assert_over_quota(presign(client, user, DATA), used=0, requested=SIZE)
        upload_id = put_presigned(first, DATA)
        r = client.post("/v1/images", headers=user.headers, json={"uploadId": upload_id})
        assert r.status_code == 201, r.text
        body = usage(client, user)
        assert (body["originalsBytes"], body["reservedBytes"]) == (SIZE, 0)
        assert_over_quota(presign(client, user, DATA), used=SIZE, requested=SIZE)
        assert len(originals(live)) == 1
        assert stored(live, "uploads/") == {}
        assert reservations(live) == []


def test_tus_creation_with_a_declared_length_over_quota(settings_factory: Any) -> None:
    with server(settings_factory, quota_free=SIZE // 2, run_worker=False) as (live, client):
        user = make_user(client)
        r = create(client, user, SIZE, filename="a.jpg")
        assert_over_quota(r, used=0, requested=SIZE, quota=SIZE // 2)
        assert upload_ids(live.settings) == []
        assert reservations(live) == []
        assert stored(live) == {}


def test_tus_reservation_is_converted_when_the_upload_completes(settings_factory: Any) -> None:
    with server(settings_factory, quota_free=QUOTA, run_worker=False) as (live, client):
        user = make_user(client)
        path = created_path(create(client, user, SIZE, filename="a.jpg"))
        assert usage(client, user)["reservedBytes"] == SIZE
        assert_over_quota(create(client, user, SIZE), used=0, requested=SIZE)
        assert patch(client, user, path, 0, DATA).status_code == 204
        body = usage(client, user)
        assert (body["originalsBytes"], body["reservedBytes"], body["images"]) == (SIZE, 0, 1)
        assert reservations(live) == []


def test_tus_termination_releases_the_reservation(settings_factory: Any) -> None:
    with server(settings_factory, quota_free=QUOTA, run_worker=False) as (_live, client):
        user = make_user(client)
        path = created_path(create(client, user, SIZE, filename="a.jpg"))
        assert client.delete(path, headers={**TUS, **user.headers}).status_code == 204
        assert usage(client, user)["reservedBytes"] == 0
        assert created_path(create(client, user, SIZE, filename="b.jpg"))


def test_tus_deferred_length_over_quota_is_refused_at_completion(settings_factory: Any) -> None:
    with server(settings_factory, quota_free=SIZE // 2, run_worker=False) as (live, client):
        user = make_user(client)
        path = created_path(
            create(client, user, None, headers={"Upload-Defer-Length": "1"}, filename="a.jpg")
        )
        # A deferred length reserves nothing; the last byte brings the check.
        assert usage(client, user)["reservedBytes"] == 0
        r = patch(client, user, path, 0, DATA, headers={"Upload-Length": str(SIZE)})
        assert_over_quota(r, used=0, requested=SIZE, quota=SIZE // 2)
        assert status(client, user, path)["status"] == "failed"
        assert originals(live) == []
        body = usage(client, user)
        assert (body["originalsBytes"], body["images"], body["reservedBytes"]) == (0, 0, 0)


def test_tus_deferred_length_that_fits_is_counted_at_completion(settings_factory: Any) -> None:
    with server(settings_factory, quota_free=QUOTA, run_worker=False) as (live, client):
        user = make_user(client)
        path = created_path(
            create(client, user, None, headers={"Upload-Defer-Length": "1"}, filename="a.jpg")
        )
        r = patch(client, user, path, 0, DATA, headers={"Upload-Length": str(SIZE)})
        assert r.status_code == 204, r.text
        assert status(client, user, path)["status"] == "completed"
        body = usage(client, user)
        assert (body["originalsBytes"], body["images"], body["reservedBytes"]) == (SIZE, 1, 0)
        assert reservations(live) == []
        assert len(originals(live)) == 1


def test_a_row_the_database_refuses_releases_its_reservation(settings_factory: Any) -> None:
    with server(settings_factory, quota_free=QUOTA, run_worker=False) as (live, client):
        user = make_user(client)
        assert _install_trigger_and_list(live, install=True) == []
        r = upload(client, user, data=DATA, title="boom")
        assert r.status_code == 500, r.text
        # Released by the request itself, not left for gc.
        assert reservations(live) == []
        assert stored(live) == {}
        assert usage(client, user)["reservedBytes"] == 0
        assert upload(client, user, data=DATA).status_code == 201


def test_tus_partials_reserve_and_their_concatenation_converts(settings_factory: Any) -> None:
    half = SIZE // 2
    pieces = [DATA[:half], DATA[half:]]
    with server(settings_factory, quota_free=QUOTA, run_worker=False) as (live, client):
        user = make_user(client)
        paths = []
        for piece in pieces:
            headers = {"Upload-Concat": "partial"}
            path = created_path(create(client, user, len(piece), headers=headers))
            assert patch(client, user, path, 0, piece).status_code == 204
            paths.append(path)
        assert usage(client, user)["reservedBytes"] == SIZE
        # The partials hold the room: another whole image does not fit now.
        assert_over_quota(create(client, user, SIZE), used=0, requested=SIZE)
        r = client.post(
            "/v1/tus/",
            headers={**TUS, **user.headers, "Upload-Concat": "final;" + " ".join(paths)},
        )
        assert status(client, user, created_path(r))["status"] == "completed"
        body = usage(client, user)
        assert (body["originalsBytes"], body["images"], body["reservedBytes"]) == (SIZE, 1, 0)
        assert reservations(live) == []
