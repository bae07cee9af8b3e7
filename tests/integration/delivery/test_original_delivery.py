from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest

from imghost.checks import check_settings
from imghost.settings import SettingsError
from tests.conftest import BACKENDS_AND_ENCRYPTED, LiveServer, backend_fixture
from tests.factories import assert_problem, image_bytes, make_user, upload_ok, wait_processed

# Encrypted on S3 too: ranges read only their segments, through S3's ranged GETs.
backend = backend_fixture(BACKENDS_AND_ENCRYPTED)


def _public(client: httpx.Client, size: tuple[int, int] = (300, 200)) -> tuple[str, bytes]:
    user = make_user(client)
    data = image_bytes("PNG", size=size)
    return upload_ok(client, user, data=data, filename="Zürich photo.png")["imageId"], data


def test_headers(client: httpx.Client) -> None:
    image_id, data = _public(client)
    r = client.get(f"/images/{image_id}")
    assert r.status_code == 200 and r.content == data
    h = r.headers
    assert h["content-type"] == "image/png"
    assert h["content-length"] == str(len(data))
    assert h["etag"] == f'"{hashlib.sha256(data).hexdigest()[:32]}"'
    assert h["last-modified"].endswith("GMT")
    assert h["cache-control"].startswith("public, max-age=")
    assert h["x-content-type-options"] == "nosniff"
    assert h["accept-ranges"] == "bytes"
    assert h["content-disposition"].startswith('inline; filename="Z_rich photo.png"')
    assert "filename*=UTF-8''Z%C3%BCrich%20photo.png" in h["content-disposition"]
    head = client.head(f"/images/{image_id}")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(data))
    assert head.headers["etag"] == h["etag"]


def test_private_cache_control(client: httpx.Client) -> None:
    user = make_user(client)
    img = upload_ok(client, user, visibility="private")
    r = client.get(f"/images/{img['imageId']}", headers=user.headers)
    assert r.status_code == 200 and r.headers["cache-control"] == "private, no-store"


def test_conditional_requests(client: httpx.Client) -> None:
    image_id, _ = _public(client)
    first = client.get(f"/images/{image_id}")
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    for headers in (
        {"If-None-Match": etag},
        {"If-None-Match": f'"other", W/{etag}'},
        {"If-None-Match": "*"},
        {"If-Modified-Since": modified},
    ):
        r = client.get(f"/images/{image_id}", headers=headers)
        assert r.status_code == 304, headers
        assert r.content == b"" and r.headers["etag"] == etag
    assert client.head(f"/images/{image_id}", headers={"If-None-Match": etag}).status_code == 304
    changed = client.get(f"/images/{image_id}", headers={"If-None-Match": '"nope"'})
    assert changed.status_code == 200
    # If-None-Match wins over If-Modified-Since.
    both = {"If-None-Match": '"nope"', "If-Modified-Since": modified}
    assert client.get(f"/images/{image_id}", headers=both).status_code == 200
    old = client.get(
        f"/images/{image_id}", headers={"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}
    )
    assert old.status_code == 200
    garbage_date = client.get(f"/images/{image_id}", headers={"If-Modified-Since": "yesterday"})
    assert garbage_date.status_code == 200


def test_ranges(client: httpx.Client) -> None:
    image_id, data = _public(client, (400, 300))
    total = len(data)
    url = f"/images/{image_id}"

    def get(range_header: str, **extra: str) -> httpx.Response:
        return client.get(url, headers={"Range": range_header, **extra})

    cases: list[tuple[str, int, int]] = [
        ("bytes=0-9", 0, 10),
        ("bytes=10-", 10, total),
        ("bytes=-20", total - 20, total),
        (f"bytes=5-{total + 100}", 5, total),
        (f"bytes=-{total + 50}", 0, total),
    ]
    for header, start, end in cases:
        r = get(header)
        assert r.status_code == 206, header
        assert r.content == data[start:end], header
        assert r.headers["content-range"] == f"bytes {start}-{end - 1}/{total}"
        assert r.headers["content-length"] == str(end - start)
    for header in (f"bytes={total}-", f"bytes={total + 10}-{total + 20}", "bytes=-0"):
        r = get(header)
        assert_problem(r, 416, "range_not_satisfiable")
        assert r.headers["content-range"] == f"bytes */{total}"
    # Multi-range and malformed ranges: the whole body with 200.
    for header in ("bytes=0-1,5-6", "bytes=abc", "items=0-5", "bytes=9-2"):
        r = get(header)
        assert r.status_code == 200 and r.content == data, header
    etag = client.head(url).headers["etag"]
    assert get("bytes=0-9", **{"If-Range": etag}).status_code == 206
    assert get("bytes=0-9", **{"If-Range": '"stale"'}).status_code == 200
    head = client.head(url, headers={"Range": "bytes=0-9"})
    assert head.status_code == 206 and head.headers["content-length"] == "10"


def test_large_original_streams_intact(client: httpx.Client) -> None:
    user = make_user(client)
    # Noise does not compress: a multi-megabyte file that spans many chunks.
    import os

    from PIL import Image

    img = Image.frombytes("RGB", (1200, 900), os.urandom(1200 * 900 * 3))
    import io

    buf = io.BytesIO()
    img.save(buf, "PNG")
    data = buf.getvalue()
    assert len(data) > 3_000_000
    body = upload_ok(client, user, data=data)
    got = client.get(f"/images/{body['imageId']}")
    assert got.content == data
    mid = client.get(f"/images/{body['imageId']}", headers={"Range": "bytes=1000000-2999999"})
    assert mid.status_code == 206 and mid.content == data[1_000_000:3_000_000]


def test_redirect_delivery_mode(settings_factory: Any, backend: str) -> None:
    settings = settings_factory(delivery="redirect")
    if settings.encryption_keys:
        # The store holds ciphertext: a presigned GET would hand it out.
        with pytest.raises(SettingsError, match="IMGHOST_DELIVERY=redirect cannot be used"):
            check_settings(settings)
        return
    with LiveServer(settings) as live, httpx.Client(base_url=live.url, timeout=30) as client:
        user = make_user(client)
        data = image_bytes("PNG")
        img = upload_ok(client, user, data=data)
        r = client.get(f"/v1/images/{img['imageId']}/file")
        assert r.status_code == 302
        if backend.startswith("postgres-s3"):
            # A presigned GET straight to the object store, after our own check,
            # answered with the sniffed type.
            assert "X-Amz-Signature" in r.headers["location"]
            direct = httpx.get(r.headers["location"])
            assert direct.content == data and direct.headers["content-type"] == "image/png"
            # A presigned upload whose PUT claimed text/html is stored as what it is.
            up = client.post(
                "/v1/uploads",
                headers=user.headers,
                json={"filename": "x.png", "size": len(data), "contentType": "text/html"},
            ).json()
            httpx.put(up["presignedUrl"], content=data, headers={"content-type": "text/html"})
            # The same bytes again: a copy is asked for (else the answer is the duplicate).
            done = client.post(
                "/v1/images",
                headers=user.headers,
                json={"uploadId": up["uploadId"], "allowDuplicate": True},
            )
            assert done.status_code == 201, done.text
            wait_processed(client, user, done.json()["imageId"])
            loc = client.get(f"/v1/images/{done.json()['imageId']}/file").headers["location"]
            assert httpx.get(loc).headers["content-type"] == "image/png"
        else:
            assert r.headers["location"] == img["url"]
        private = upload_ok(client, user, visibility="private")
        assert_problem(client.get(f"/v1/images/{private['imageId']}/file"), 403, "forbidden")
