from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest

from imghost.settings import Settings
from tests.conftest import LiveServer
from tests.factories import assert_problem, image_bytes, make_user, upload, upload_ok

SEED_UPLOAD_FIELDS = {"imageId", "url", "thumbnailUrl", "visibility", "createdAt"}


@pytest.mark.parametrize(
    ("fmt", "save", "name", "mime"),
    [
        ("JPEG", {}, "jpeg", "image/jpeg"),
        ("PNG", {}, "png", "image/png"),
        ("GIF", {}, "gif", "image/gif"),
        ("WEBP", {}, "webp", "image/webp"),
        ("AVIF", {}, "avif", "image/avif"),
        ("HEIF", {}, "heic", "image/heic"),
    ],
)
def test_single_upload_each_format(
    client: httpx.Client, fmt: str, save: dict[str, Any], name: str, mime: str
) -> None:
    user = make_user(client)
    data = image_bytes(fmt, size=(40, 30), **save)
    # The declared type and name lie; the bytes decide.
    body = upload_ok(client, user, data=data, filename="lies.txt", title="t")
    assert set(body) >= SEED_UPLOAD_FIELDS
    assert body["format"] == name and body["mimeType"] == mime
    assert (body["width"], body["height"]) == (40, 30)
    assert body["size"] == len(data) and body["status"] == "ready"
    assert body["imageId"].startswith("img_") and len(body["imageId"]) >= 30
    assert body["url"].endswith(f"/images/{body['imageId']}")
    assert body["thumbnailUrl"] == f"{body['url']}/thumb.jpg"
    got = client.get(f"/images/{body['imageId']}")
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"] == mime


def test_fields_tags_and_default_visibility(client: httpx.Client) -> None:
    user = make_user(client)
    body = upload_ok(client, user, title="Beach", description="sunset", tags="Summer, beach,summer")
    assert body["title"] == "Beach" and body["description"] == "sunset"
    assert body["tags"] == ["summer", "beach"] and body["visibility"] == "public"
    client.patch("/v1/users/me", headers=user.headers, json={"defaultVisibility": "private"})
    assert upload_ok(client, user)["visibility"] == "private"
    assert upload_ok(client, user, visibility="unlisted")["visibility"] == "unlisted"
    bad = upload(client, user, visibility="secret")
    assert_problem(bad, 422, "invalid_visibility")


def test_batch_keeps_good_files_when_some_are_bad(client: httpx.Client) -> None:
    user = make_user(client)
    files = [
        ("file", ("a.jpg", image_bytes("JPEG"), "image/jpeg")),
        ("file", ("b.png", b"\x89PNG\r\n\x1a\nnot really a png", "image/png")),
        ("file", ("c.txt", b"hello world", "text/plain")),
        ("file", ("d.webp", image_bytes("WEBP"), "image/webp")),
    ]
    r = client.post("/v1/images", headers=user.headers, files=files, data={"tags": "batch"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert [i["format"] for i in body["images"]] == ["jpeg", "webp"]
    assert all(i["tags"] == ["batch"] for i in body["images"])
    assert [(e["filename"], e["code"]) for e in body["errors"]] == [
        ("b.png", "invalid_image"),
        ("c.txt", "unsupported_media_type"),
    ]
    listing = client.get(f"/v1/users/{user.user_id}/images", headers=user.headers).json()
    assert listing["total"] == 2


def test_batch_where_every_file_fails(client: httpx.Client) -> None:
    user = make_user(client)
    files = [("file", ("x.txt", b"nope", "text/plain")), ("file", ("y.txt", b"no", "x/y"))]
    r = client.post("/v1/images", headers=user.headers, files=files)
    body = assert_problem(r, 415, "unsupported_media_type")
    assert len(body["errors"]) == 2


def test_rejections(client: httpx.Client) -> None:
    user = make_user(client)
    assert_problem(upload(client, user, data=b"GIF89a" + b"\0" * 20), 422, "invalid_image")
    assert_problem(upload(client, user, data=b""), 422, "invalid_image")
    bmp = image_bytes("BMP")
    assert_problem(upload(client, user, data=bmp, filename="x.jpg"), 415, "unsupported_media_type")
    no_file = client.post("/v1/images", headers=user.headers, data={"title": "x"}, files={})
    assert no_file.status_code in (415, 422)
    form_only = client.post(
        "/v1/images",
        headers={**user.headers, "content-type": "multipart/form-data; boundary=xyz"},
        content=b'--xyz\r\nContent-Disposition: form-data; name="title"\r\n\r\nhi\r\n--xyz--\r\n',
    )
    assert_problem(form_only, 422, "no_file")
    garbage = client.post(
        "/v1/images",
        headers={**user.headers, "content-type": "multipart/form-data; boundary=xyz"},
        content=b"this is not multipart at all",
    )
    assert_problem(garbage, 400, "malformed_multipart")
    wrong_type = client.post(
        "/v1/images", headers={**user.headers, "content-type": "text/plain"}, content=b"x"
    )
    assert_problem(wrong_type, 415, "unsupported_media_type")
    anon = client.post("/v1/images", files={"file": ("a.jpg", image_bytes(), "image/jpeg")})
    assert_problem(anon, 401, "unauthorized")


def test_limits(settings_factory: object) -> None:
    settings: Settings = settings_factory(  # type: ignore[operator]
        max_file_size=20_000, max_batch_size=50_000, max_pixels=10_000
    )
    with LiveServer(settings) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        user = make_user(client)
        big = image_bytes("PNG", size=(90, 90)) + b"\0" * 30_000
        body = assert_problem(upload(client, user, data=big), 413, "file_too_large")
        assert body["limit"] == 20_000
        # Small limits are written as they are, never "0 MB" or "0 MP".
        assert "the 20 kB limit" in body["detail"], body["detail"]
        many_px = image_bytes("PNG", size=(200, 100))
        body = assert_problem(upload(client, user, data=many_px), 413, "image_too_large")
        assert "(20,000 pixels); the limit is 10,000 pixels." in body["detail"], body["detail"]
        ok = image_bytes("PNG", size=(50, 50))
        files = [("file", (f"{i}.png", ok + b"\0" * 15_000, "image/png")) for i in range(4)]
        r = client.post("/v1/images", headers=user.headers, files=files)
        body = assert_problem(r, 413, "batch_too_large")
        assert "the 50 kB limit for one request" in body["detail"], body["detail"]
        # A batch where one file is over the per-file limit keeps the others.
        files = [
            ("file", ("small.png", ok, "image/png")),
            ("file", ("big.png", ok + b"\0" * 25_000, "image/png")),
        ]
        r = client.post("/v1/images", headers=user.headers, files=files)
        assert r.status_code == 201, r.text
        assert [e["code"] for e in r.json()["errors"]] == ["file_too_large"]
        assert len(r.json()["images"]) == 1
        listing = client.get(f"/v1/users/{user.user_id}/images", headers=user.headers).json()
        assert listing["total"] == 1  # nothing half-stored by the refused requests


def test_checksum_recorded(client: httpx.Client) -> None:
    user = make_user(client)
    data = image_bytes("PNG")
    body = upload_ok(client, user, data=data)
    meta = client.get(f"/v1/images/{body['imageId']}/metadata").json()
    assert meta["file"]["checksum"] == "sha256:" + hashlib.sha256(data).hexdigest()
    assert meta["file"]["mimeType"] == "image/png" and meta["file"]["size"] == len(data)
    assert meta["file"]["filename"] == "photo.jpg"
