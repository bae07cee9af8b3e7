from __future__ import annotations

import base64
import hashlib
from typing import Any

import httpx

from imghost.settings import Settings
from tests.conftest import BACKENDS_AND_ENCRYPTED, LiveServer, backend_fixture
from tests.factories import UserHandle, assert_problem, image_bytes, make_user, wait_processed

# Encrypted on S3 too: the client's bytes land there as sent, and are
# encrypted when the upload is finalized.
backend = backend_fixture(BACKENDS_AND_ENCRYPTED)


def start(client: httpx.Client, user: UserHandle, data: bytes, **extra: Any) -> dict[str, Any]:
    r = client.post(
        "/v1/uploads",
        headers=user.headers,
        json={"filename": "p.png", "size": len(data), "contentType": "image/png", **extra},
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def put(url: str, data: bytes) -> httpx.Response:
    # A fresh client with no auth: the URL itself is the credential.
    return httpx.put(url, content=data, timeout=30)


def finalize(client: httpx.Client, user: UserHandle, upload_id: str, **f: Any) -> httpx.Response:
    return client.post("/v1/images", headers=user.headers, json={"uploadId": upload_id, **f})


def test_presigned_flow(client: httpx.Client, backend: str, live: LiveServer) -> None:
    user = make_user(client)
    data = image_bytes("PNG", size=(33, 22))
    digest = hashlib.sha256(data).hexdigest()
    up = start(client, user, data, checksum=f"sha256:{digest}")
    assert up["uploadId"].startswith("upl_") and up["method"] == "PUT"
    assert up["expiresIn"] == 900
    if backend.startswith("postgres-s3"):
        # A real S3 presigned URL: the bytes never pass through the API.
        assert not up["presignedUrl"].startswith(live.url)
        assert "X-Amz-Signature" in up["presignedUrl"]
    else:
        assert up["presignedUrl"].startswith(f"{live.url}/v1/uploads/")
    assert put(up["presignedUrl"], data).status_code == 200
    r = finalize(client, user, up["uploadId"], title="presigned", tags=["a"])
    assert r.status_code == 201, r.text
    image = r.json()
    assert image["title"] == "presigned" and image["tags"] == ["a"]
    assert (image["width"], image["height"], image["format"]) == (33, 22, "png")
    assert image["status"] == "processing"
    assert wait_processed(client, user, image["imageId"])["status"] == "ready"
    assert client.get(f"/images/{image['imageId']}").content == data
    again = finalize(client, user, up["uploadId"])
    body = assert_problem(again, 409, "upload_already_finalized")
    assert body["imageId"] == image["imageId"]


def test_checksum_formats_and_mismatch(client: httpx.Client) -> None:
    user = make_user(client)
    data = image_bytes("PNG")
    b64 = base64.b64encode(hashlib.sha256(data).digest()).decode()
    up = start(client, user, data, checksum=b64)
    put(up["presignedUrl"], data)
    assert finalize(client, user, up["uploadId"]).status_code == 201
    up = start(client, user, data, checksum="sha256:" + "0" * 64)
    put(up["presignedUrl"], data)
    assert_problem(finalize(client, user, up["uploadId"]), 422, "checksum_mismatch")
    bad = client.post(
        "/v1/uploads",
        headers=user.headers,
        json={"filename": "x", "size": 1, "contentType": "image/png", "checksum": "md5:abc"},
    )
    assert_problem(bad, 422, "invalid_checksum")


def test_finalize_errors(client: httpx.Client) -> None:
    user = make_user(client)
    other = make_user(client)
    data = image_bytes("PNG")
    assert_problem(finalize(client, user, "upl_doesnotexist"), 404, "upload_not_found")
    up = start(client, user, data)
    assert_problem(finalize(client, user, up["uploadId"]), 409, "upload_incomplete")
    assert_problem(finalize(client, other, up["uploadId"]), 404, "upload_not_found")
    corrupt = data[:45] + b"\xff" * 30 + data[75:]  # right size, pixel data destroyed
    put(up["presignedUrl"], corrupt)
    assert_problem(finalize(client, user, up["uploadId"]), 422, "invalid_image")
    up = start(client, user, b"x" * 100)
    put(up["presignedUrl"], b"hello world, not an image" + b" " * 75)
    assert_problem(finalize(client, user, up["uploadId"]), 415, "unsupported_media_type")
    big = client.post(
        "/v1/uploads",
        headers=user.headers,
        json={"filename": "x", "size": 10**12, "contentType": "image/png"},
    )
    assert_problem(big, 413, "file_too_large")
    bad_json = client.post(
        "/v1/images",
        headers={**user.headers, "content-type": "application/json"},
        content=b"{not json",
    )
    assert_problem(bad_json, 400, "invalid_json")
    assert_problem(
        client.post("/v1/images", headers=user.headers, json={"title": "no id"}),
        422,
        "validation_error",
    )


def test_size_mismatch(client: httpx.Client, backend: str) -> None:
    user = make_user(client)
    data = image_bytes("PNG")
    up = start(client, user, data)
    if backend.startswith("sqlite-local"):
        # Our own PUT target refuses more bytes than declared, and fewer.
        assert_problem(put(up["presignedUrl"], data + b"extra"), 413, "size_mismatch")
        assert_problem(put(up["presignedUrl"], data[:10]), 422, "size_mismatch")
    else:
        put(up["presignedUrl"], data + b"extra")  # S3 cannot check; finalize does
        assert_problem(finalize(client, user, up["uploadId"]), 422, "size_mismatch")


def test_local_put_signature_checked(client: httpx.Client, backend: str) -> None:
    if not backend.startswith("sqlite-local"):
        return
    user = make_user(client)
    data = image_bytes("PNG")
    up = start(client, user, data)
    tampered = up["presignedUrl"].replace("signature=", "signature=0")
    assert_problem(put(tampered, data), 403, "invalid_signature")
    other = start(client, user, data)
    swapped = up["presignedUrl"].replace(up["uploadId"], other["uploadId"])
    assert_problem(put(swapped, data), 403, "invalid_signature")


def test_expired_upload_and_gc(settings_factory: Any) -> None:
    settings: Settings = settings_factory(presign_expires=1)
    with LiveServer(settings) as live, httpx.Client(base_url=live.url, timeout=30) as client:
        user = make_user(client)
        data = image_bytes("PNG")
        up = start(client, user, data)
        put(up["presignedUrl"], data)
        import time

        time.sleep(1.5)
        assert_problem(finalize(client, user, up["uploadId"]), 410, "upload_expired")

        import anyio

        from imghost.context import AppContext
        from imghost.maintenance.gc import collect

        async def run_gc() -> tuple[Any, bool]:
            ctx = AppContext.build(live.settings)
            try:
                report = await collect(ctx.gc, grace=0)
                gone = await ctx.store.head(f"uploads/{up['uploadId']}") is None
            finally:
                await ctx.close()
            return report, gone

        report, gone = anyio.run(run_gc)
        assert report.expired_uploads == 1 and gone
        assert_problem(finalize(client, user, up["uploadId"]), 410, "upload_expired")
