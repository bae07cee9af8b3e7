"""Images stay retrievable when processing fails after the scan passed.

Each failure is forced for real inside the worker, which runs in this
process (``work``): a step that cannot handle the bytes (a ProbeError, as
the decoder raises), an error past the retries, the blob store failing past
the retries. Owner, another user and anonymous callers are asked each time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from imghost.imaging.probe import ProbeError
from imghost.processing import pixels
from imghost.storage.local import LocalBlobStore
from imghost.storage.s3 import S3BlobStore
from tests.conftest import LiveServer
from tests.factories import UserHandle, assert_problem, image_bytes, make_user, upload
from tests.integration.processing.test_failures import work
from tests.unit.imaging.helpers import encode, gps_exif


@pytest.fixture
def idle(settings_factory: Any) -> Iterator[tuple[LiveServer, httpx.Client]]:
    """A server whose jobs run only when the test calls ``work``, one attempt each."""
    settings = settings_factory(run_worker=False, job_max_attempts=1)
    with LiveServer(settings) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        yield live, client


def _undecodable(*_: Any, **__: Any) -> Any:
    raise ProbeError(422, "corrupt_image", "The image data is corrupt.")


def _gps_jpeg() -> bytes:
    return encode(Image.new("RGB", (80, 60), (10, 120, 200)), "JPEG", exif=gps_exif().tobytes())


def _record(client: httpx.Client, image_id: str, user: UserHandle | None = None) -> dict[str, Any]:
    r = client.get(f"/v1/images/{image_id}", headers=user.headers if user else {})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_derivatives_failing_for_good_leave_the_original_to_all_allowed(
    idle: tuple[LiveServer, httpx.Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    live, client = idle
    owner, other = make_user(client), make_user(client)
    data = image_bytes("PNG", size=(80, 60))
    public = upload(client, owner, data=data, filename="a.png").json()["imageId"]
    private = upload(client, owner, data=data, filename="b.png", visibility="private")
    private_id = private.json()["imageId"]
    monkeypatch.setattr(pixels, "prepare_file", _undecodable)
    assert work(live) == 2

    mine = _record(client, public, owner)
    assert mine["status"] == "failed" and mine["scanStatus"] == "passed"
    assert mine["processing"]["step"] == "derivatives"
    assert mine["processing"]["code"] == "unprocessable"
    assert mine["statusReason"] == "The image data is corrupt."  # the raw reason: owner only
    theirs = _record(client, public)
    assert theirs["processing"] == mine["processing"] and theirs["scanStatus"] == "passed"
    assert theirs["statusReason"] == mine["processing"]["detail"]
    assert "resized versions" in theirs["statusReason"]
    # The steps that worked kept their results.
    meta = client.get(f"/images/{public}/metadata").json()
    assert meta["metadata"]["width"] == 80 and meta["processing"]["step"] == "derivatives"

    for headers in ({}, other.headers, owner.headers):
        r = client.get(f"/images/{public}", headers=headers)
        assert r.status_code == 200 and r.content == data
    assert client.head(f"/images/{public}").status_code == 200
    for path in ("thumb.jpg", "large.webp", "t/w_40.png"):
        problem = assert_problem(client.get(f"/images/{public}/{path}"), 409, "image_failed")
        assert f"/images/{public}" in problem["detail"]
        assert "resized versions" in problem["detail"]

    # Reached by its id, never listed for others: it has no thumbnail.
    assert client.get(f"/v1/users/{owner.user_id}/images").json()["total"] == 0
    listing = client.get(f"/v1/users/{owner.user_id}/images", headers=owner.headers).json()
    assert listing["total"] == 2

    # A private one answers like a private ready one: 403 to others.
    assert_problem(client.get(f"/images/{private_id}"), 403, "forbidden")
    assert_problem(client.get(f"/images/{private_id}", headers=other.headers), 403, "forbidden")
    assert client.get(f"/images/{private_id}", headers=owner.headers).content == data


def test_gps_copy_failing_keeps_the_gps_original_from_others(
    idle: tuple[LiveServer, httpx.Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    live, client = idle
    owner, other = make_user(client), make_user(client)
    data = _gps_jpeg()
    hidden = upload(client, owner, data=data).json()["imageId"]
    kept = upload(client, owner, data=data, keepGps="true").json()["imageId"]
    plain = upload(client, owner, data=image_bytes()).json()["imageId"]
    monkeypatch.setattr(pixels, "scrub_gps", _undecodable)
    assert work(live) == 3

    body = _record(client, hidden, owner)
    assert body["status"] == "failed" and body["scanStatus"] == "passed"
    assert body["processing"]["step"] == "gps_copy"
    assert body["processing"]["code"] == "unprocessable"
    assert client.get(f"/images/{hidden}", headers=owner.headers).content == data
    for headers in ({}, other.headers):
        assert_problem(
            client.get(f"/images/{hidden}", headers=headers), 409, "gps_copy_unavailable"
        )
    assert client.head(f"/images/{hidden}").status_code == 409
    # Opted in to sharing the position: the original is what everyone gets anyway.
    assert _record(client, kept, owner)["status"] == "ready"
    assert client.get(f"/images/{kept}").content == data
    # No GPS: nothing to scrub, nothing failed.
    assert _record(client, plain, owner)["status"] == "ready"


def test_store_failing_past_the_retries(
    idle: tuple[LiveServer, httpx.Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    live, client = idle
    owner = make_user(client)
    data = image_bytes("PNG", size=(80, 60))
    image_id = upload(client, owner, data=data, filename="a.png").json()["imageId"]

    async def store_down(*_: Any, **__: Any) -> None:
        raise OSError("the blob store is down")

    for store in (LocalBlobStore, S3BlobStore):
        monkeypatch.setattr(store, "put_bytes", store_down)
    assert work(live) == 1  # its one attempt failed: the job is dead

    body = _record(client, image_id, owner)
    assert body["status"] == "failed" and body["scanStatus"] == "passed", body
    assert body["processing"]["step"] == "store"
    assert body["processing"]["code"] == "store_error"
    assert "the blob store is down" in body["statusReason"]
    others = _record(client, image_id)
    assert "the blob store is down" not in others["statusReason"]
    assert client.get(f"/images/{image_id}").content == data
    problem = assert_problem(client.get(f"/images/{image_id}/thumb.jpg"), 409, "image_failed")
    assert "store" in problem["detail"]


def test_a_step_erring_past_the_retries_is_named(
    idle: tuple[LiveServer, httpx.Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    live, client = idle
    owner = make_user(client)
    data = image_bytes("PNG", size=(80, 60))
    image_id = upload(client, owner, data=data, filename="a.png").json()["imageId"]

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("an encoder bug")

    monkeypatch.setattr(pixels, "prepare_file", broken)
    assert work(live) == 1
    body = _record(client, image_id, owner)
    assert body["processing"]["step"] == "derivatives" and body["processing"]["code"] == "error"
    assert "an encoder bug" in body["statusReason"]
    assert client.get(f"/images/{image_id}").content == data


def test_scan_refusal_still_hides_the_image(
    idle: tuple[LiveServer, httpx.Client], tmp_path: Path
) -> None:
    live, client = idle
    owner, other = make_user(client), make_user(client)
    data = image_bytes("JPEG", size=(64, 64)) + b"<?php system($_GET['c']); ?>" + b" " * 2048
    image_id = upload(client, owner, data=data).json()["imageId"]
    assert work(live) == 1
    body = _record(client, image_id, owner)
    assert body["status"] == "quarantined" and body["scanStatus"] == "refused"
    assert body["processing"]["step"] == "scan"
    assert body["processing"]["code"] == "scan_refused"
    assert "PHP" in body["processing"]["detail"]
    assert_problem(client.get(f"/images/{image_id}", headers=owner.headers), 403, "quarantined")
    for headers in ({}, other.headers):
        assert_problem(client.get(f"/images/{image_id}", headers=headers), 404, "not_found")
        assert_problem(client.get(f"/v1/images/{image_id}", headers=headers), 404, "not_found")


def test_a_link_to_a_failed_image_shares_its_original(
    idle: tuple[LiveServer, httpx.Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    live, client = idle
    owner = make_user(client)
    data = image_bytes("PNG", size=(80, 60))
    image_id = upload(client, owner, data=data, filename="a.png", visibility="private")
    image_id = image_id.json()["imageId"]
    monkeypatch.setattr(pixels, "prepare_file", _undecodable)
    assert work(live) == 1
    r = client.post(
        f"/v1/images/{image_id}/links",
        headers=owner.headers,
        json={"permissions": ["view", "download"]},
    )
    assert r.status_code == 201, r.text
    opened = client.post(f"/v1/links/{r.json()['linkId']}/open", json={})
    assert opened.status_code == 200, opened.text
    shared = opened.json()["image"]
    assert client.get(shared["downloadUrl"]).content == data
    # Its display copy cannot be made: the problem says so and points at the original.
    assert_problem(client.get(shared["url"]), 409, "image_failed")
