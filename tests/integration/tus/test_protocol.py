"""tus 1.0.0 core protocol and extensions against the real app, on both backends."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor

import httpx

from imghost.context import AppContext
from tests.conftest import LiveServer
from tests.factories import assert_problem, image_bytes, make_user, wait_processed
from tests.helpers.context import with_ctx
from tests.integration.tus.helpers import (
    OCTETS,
    TUS,
    checksum,
    create,
    created_path,
    head,
    leftovers,
    patch,
    status,
    upload_whole,
)


def test_options_advertises_the_protocol(client: httpx.Client) -> None:
    r = client.options("/v1/tus/")
    assert r.status_code == 204
    assert r.headers["tus-resumable"] == "1.0.0"
    assert r.headers["tus-version"] == "1.0.0"
    extensions = set(r.headers["tus-extension"].split(","))
    assert {
        "creation",
        "creation-with-upload",
        "creation-defer-length",
        "expiration",
        "checksum",
        "termination",
        "concatenation",
    } <= extensions
    assert int(r.headers["tus-max-size"]) > 0
    assert set(r.headers["tus-checksum-algorithm"].split(",")) == {"sha1", "sha256"}


def test_upload_in_chunks_becomes_the_image(client: httpx.Client) -> None:
    user = make_user(client)
    data = image_bytes("PNG", size=(900, 700))
    path = upload_whole(
        client,
        user,
        data,
        chunk=len(data) // 3 + 1,
        filename="sunset.png",
        title="Sunset",
        tags="beach,summer",
        visibility="unlisted",
    )
    r = head(client, user, path)
    assert r.status_code == 200
    assert r.headers["upload-offset"] == r.headers["upload-length"] == str(len(data))
    assert r.headers["cache-control"] == "no-store"
    info = status(client, user, path)
    assert info["status"] == "completed"
    assert info["offset"] == info["length"] == len(data)
    image = wait_processed(client, user, info["imageId"])
    assert image["title"] == "Sunset"
    assert image["tags"] == ["beach", "summer"]
    assert image["visibility"] == "unlisted"
    original = client.get(f"/images/{info['imageId']}", headers=user.headers)
    assert hashlib.sha256(original.content).digest() == hashlib.sha256(data).digest()
    # Finalizing like a presigned upload returns the image, fields applied.
    r = client.post(
        "/v1/images",
        headers=user.headers,
        json={"uploadId": info["uploadId"], "title": "Renamed"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["imageId"] == info["imageId"]
    assert r.json()["title"] == "Renamed"


def test_creation_with_upload_and_zero_copy_resume(client: httpx.Client) -> None:
    user = make_user(client)
    data = image_bytes("JPEG", size=(400, 300))
    r = create(client, user, len(data), headers=OCTETS)
    # creation-with-upload needs the body in the same request
    r = client.post(
        "/v1/tus/",
        headers={**TUS, **OCTETS, **user.headers, "Upload-Length": str(len(data))},
        content=data[:1000],
    )
    path = created_path(r)
    assert r.headers["upload-offset"] == "1000"
    assert "upload-expires" in r.headers
    r = patch(client, user, path, 1000, data[1000:])
    assert r.status_code == 204
    assert status(client, user, path)["status"] == "completed"


def test_wrong_offset_is_409_and_keeps_the_upload(client: httpx.Client) -> None:
    user = make_user(client)
    data = image_bytes("PNG", size=(300, 300))
    path = created_path(create(client, user, len(data)))
    assert patch(client, user, path, 0, data[:100]).status_code == 204
    r = patch(client, user, path, 50, data[50:200])
    assert_problem(r, 409, "offset_mismatch")
    assert r.headers["upload-offset"] == "100"
    assert head(client, user, path).headers["upload-offset"] == "100"


def test_wrong_content_type_is_415(client: httpx.Client) -> None:
    user = make_user(client)
    path = created_path(create(client, user, 10))
    r = patch(client, user, path, 0, b"x" * 10, headers={"Content-Type": "image/jpeg"})
    assert_problem(r, 415, "unsupported_media_type")


def test_missing_tus_resumable_is_412(client: httpx.Client) -> None:
    user = make_user(client)
    r = client.post("/v1/tus/", headers={**user.headers, "Upload-Length": "10"})
    assert_problem(r, 412, "tus_version_unsupported")
    assert r.headers["tus-version"] == "1.0.0"
    assert r.headers["tus-resumable"] == "1.0.0"


def test_creation_needs_authentication(client: httpx.Client) -> None:
    r = client.post("/v1/tus/", headers={**TUS, "Upload-Length": "10"})
    assert_problem(r, 401, "unauthorized")
    assert r.headers["tus-resumable"] == "1.0.0"


def test_declared_length_over_the_limit_is_413(client: httpx.Client) -> None:
    user = make_user(client)
    r = create(client, user, 10**12)
    assert_problem(r, 413, "file_too_large")


def test_other_users_cannot_see_or_touch_an_upload(client: httpx.Client) -> None:
    owner, other = make_user(client), make_user(client)
    path = created_path(create(client, owner, 10))
    assert head(client, other, path).status_code == 404
    assert_problem(patch(client, other, path, 0, b"x" * 10), 404, "upload_not_found")
    r = client.delete(path, headers={**TUS, **other.headers})
    assert_problem(r, 404, "upload_not_found")


def test_checksum_mismatch_is_460_and_the_offset_stays(client: httpx.Client) -> None:
    user = make_user(client)
    data = image_bytes("PNG", size=(200, 200))
    path = created_path(create(client, user, len(data)))
    half = len(data) // 2
    good = patch(
        client,
        user,
        path,
        0,
        data[:half],
        headers={"Upload-Checksum": checksum("sha1", data[:half])},
    )
    assert good.status_code == 204
    bad = patch(
        client,
        user,
        path,
        half,
        data[half:],
        headers={"Upload-Checksum": checksum("sha256", b"something else")},
    )
    assert_problem(bad, 460, "checksum_mismatch")
    assert head(client, user, path).headers["upload-offset"] == str(half)
    r = patch(
        client,
        user,
        path,
        half,
        data[half:],
        headers={"Upload-Checksum": checksum("sha256", data[half:])},
    )
    assert r.status_code == 204
    assert status(client, user, path)["status"] == "completed"
    r = patch(client, user, path, 0, b"x", headers={"Upload-Checksum": "md5 AAAA"})
    assert r.status_code in (400, 409)


def test_termination_removes_the_upload(client: httpx.Client) -> None:
    user = make_user(client)
    path = created_path(create(client, user, 1000))
    assert patch(client, user, path, 0, b"\0" * 500).status_code == 204
    r = client.delete(path, headers={**TUS, **user.headers})
    assert r.status_code == 204
    assert head(client, user, path).status_code == 404
    assert_problem(patch(client, user, path, 500, b"\0" * 500), 404, "upload_not_found")
    assert status(client, user, path)["status"] == "terminated"


def test_deferred_length(client: httpx.Client) -> None:
    user = make_user(client)
    data = image_bytes("PNG", size=(250, 250))
    r = create(client, user, None, headers={"Upload-Defer-Length": "1"})
    path = created_path(r)
    r = head(client, user, path)
    assert r.headers["upload-defer-length"] == "1"
    assert "upload-length" not in r.headers
    assert patch(client, user, path, 0, data[:300]).status_code == 204
    r = patch(client, user, path, 300, data[300:], headers={"Upload-Length": str(len(data))})
    assert r.status_code == 204, r.text
    assert status(client, user, path)["status"] == "completed"


def test_method_override(client: httpx.Client) -> None:
    user = make_user(client)
    data = image_bytes("PNG", size=(120, 120))
    path = created_path(create(client, user, len(data)))
    r = client.post(
        path,
        headers={
            **TUS,
            **OCTETS,
            **user.headers,
            "Upload-Offset": "0",
            "X-HTTP-Method-Override": "PATCH",
        },
        content=data,
    )
    assert r.status_code == 204, r.text
    assert status(client, user, path)["status"] == "completed"


def test_html_renamed_jpg_is_rejected_like_a_direct_upload(
    live: LiveServer, client: httpx.Client
) -> None:
    user = make_user(client)
    # Over one S3 part: on S3 the bytes reach the image's future key before
    # validation, and must be gone again after it.
    html = b"<!doctype html><html><script>alert(1)</script></html>" * 200_000
    path = created_path(create(client, user, len(html), filename="cat.jpg", filetype="image/jpeg"))
    r = patch(client, user, path, 0, html)
    direct = client.post(
        "/v1/images", headers=user.headers, files={"file": ("cat.jpg", html, "image/jpeg")}
    )
    assert r.status_code == direct.status_code
    assert r.json()["code"] == direct.json()["code"]
    info = status(client, user, path)
    assert info["status"] == "failed"
    assert info["error"]["code"] == direct.json()["code"]
    assert "imageId" not in info or info["imageId"] is None
    assert head(client, user, path).status_code == 410
    # Nothing is left in storage: no resumable bytes, no blob at all.
    assert leftovers(live.settings) == []
    assert with_ctx(live.settings, lambda ctx: _all_keys(ctx)) == []


async def _all_keys(ctx: AppContext) -> list[str]:
    return [meta.key async for meta in ctx.store.list("")]


def test_concatenation_of_four_partials(client: httpx.Client) -> None:
    user = make_user(client)
    data = image_bytes("PNG", size=(600, 400))
    quarter = len(data) // 4 + 1
    pieces = [data[i : i + quarter] for i in range(0, len(data), quarter)]
    assert len(pieces) == 4

    def send(piece: bytes) -> str:
        path = created_path(create(client, user, len(piece), headers={"Upload-Concat": "partial"}))
        assert patch(client, user, path, 0, piece).status_code == 204
        assert status(client, user, path)["status"] == "uploaded"
        return path

    with ThreadPoolExecutor(4) as pool:  # the partials travel in parallel
        paths = list(pool.map(send, pieces))
    r = client.post(
        "/v1/tus/",
        headers={
            **TUS,
            **user.headers,
            "Upload-Concat": "final;" + " ".join(paths),
            "Upload-Metadata": "filename Y2F0LnBuZw==",
        },
    )
    final = created_path(r)
    assert r.headers["upload-offset"] == str(len(data))
    info = status(client, user, final)
    assert info["status"] == "completed"
    original = client.get(f"/images/{info['imageId']}", headers=user.headers)
    assert original.content == data
    assert all(status(client, user, p)["status"] == "concatenated" for p in paths)
    # A partial cannot be used twice.
    r = client.post(
        "/v1/tus/", headers={**TUS, **user.headers, "Upload-Concat": "final;" + paths[0]}
    )
    assert_problem(r, 400, "invalid_concatenation")


def test_cors_preflight_and_exposed_headers(client: httpx.Client) -> None:
    r = client.options(
        "/v1/tus/",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "upload-offset,tus-resumable,authorization",
        },
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] in ("*", "https://app.example")
    assert "PATCH" in r.headers["access-control-allow-methods"]
    user = make_user(client)
    r = create(client, user, 10, headers={"Origin": "https://app.example"})
    exposed = {h.strip().lower() for h in r.headers["access-control-expose-headers"].split(",")}
    assert {"location", "upload-offset", "upload-length", "tus-resumable"} <= exposed
