"""A client written from the design's API table alone (../shared/BRIEF.md §3).

It reads and sends only the request and response fields the design names,
the way a client built from that document would: sign up, log in, upload
through a presigned URL, finalize, read the metadata, follow the file
redirect, patch, list the user's images, share by signed URL, delete. Extra
fields imghost returns are ignored, as such a client would ignore them.
"""

from __future__ import annotations

import datetime as dt
import io
import secrets
import time
from typing import Any

import httpx
from PIL import Image as PILImage

from tests.conftest import LiveServer


def _png(size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    PILImage.new("RGB", size, (200, 80, 40)).save(buf, "PNG")
    return buf.getvalue()


def _has(body: dict[str, Any], *fields: str) -> None:
    missing = [f for f in fields if f not in body]
    assert not missing, f"missing {missing} in {body}"


def _timestamp(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, value
    return parsed


def _eventually_ok(url: str, timeout: float = 60) -> httpx.Response:
    """A thumbnail exists once the service has made it: a design client retries."""
    deadline = time.monotonic() + timeout
    while True:
        r = httpx.get(url, timeout=30)
        if r.status_code == 200 or time.monotonic() > deadline:
            return r
        time.sleep(0.05)


def test_a_client_of_the_design_works_unchanged(live: LiveServer) -> None:
    api = httpx.Client(base_url=live.url, timeout=30)
    name = f"design{secrets.token_hex(4)}"
    email = f"{name}@example.com"
    password = "a long and unusual passphrase 7"

    r = api.post("/v1/auth/signup", json={"username": name, "email": email, "password": password})
    assert r.status_code == 201, r.text
    signup = r.json()
    _has(signup, "userId", "username", "email", "createdAt")
    assert (signup["username"], signup["email"]) == (name, email)
    user_id = signup["userId"]
    _timestamp(signup["createdAt"])

    r = api.post("/v1/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    login = r.json()
    _has(login, "accessToken", "refreshToken", "expiresIn")
    auth = {"Authorization": f"Bearer {login['accessToken']}"}

    data = _png((64, 48))
    r = api.post(
        "/v1/uploads",
        headers=auth,
        json={"filename": "sunset.png", "size": len(data), "contentType": "image/png"},
    )
    assert r.status_code in (200, 201), r.text
    upload = r.json()
    _has(upload, "uploadId", "presignedUrl", "expiresIn")
    # The presigned URL is the credential: no Authorization header.
    put = httpx.put(upload["presignedUrl"], content=data, timeout=30)
    assert put.status_code in (200, 201, 204), put.text

    r = api.post(
        "/v1/images",
        headers=auth,
        json={
            "uploadId": upload["uploadId"],
            "title": "Sunset",
            "description": "over the bay",
            "tags": ["summer", "sea"],
            "visibility": "private",
        },
    )
    assert r.status_code in (200, 201), r.text
    created = r.json()
    _has(created, "imageId", "url", "thumbnailUrl", "visibility", "createdAt")
    image_id = created["imageId"]
    assert created["visibility"] == "private"

    r = api.get(f"/v1/images/{image_id}", headers=auth)
    assert r.status_code == 200, r.text
    meta = r.json()
    _has(meta, "imageId", "ownerId", "title", "description", "tags", "size", "format")
    _has(meta, "width", "height", "visibility", "createdAt", "updatedAt")
    assert (meta["imageId"], meta["ownerId"]) == (image_id, user_id)
    assert (meta["title"], meta["description"]) == ("Sunset", "over the bay")
    assert sorted(meta["tags"]) == ["sea", "summer"]
    assert (meta["size"], meta["format"], meta["width"], meta["height"]) == (
        len(data),
        "png",
        64,
        48,
    )

    r = api.get(f"/v1/images/{image_id}/file", headers=auth)
    assert r.status_code == 302, r.text
    location = httpx.URL(live.url).join(r.headers["location"])
    fetched = httpx.get(location, headers=auth if location.host == "127.0.0.1" else {}, timeout=30)
    assert fetched.status_code == 200 and fetched.content == data

    r = api.patch(
        f"/v1/images/{image_id}",
        headers=auth,
        json={"title": "Sunset at the bay", "visibility": "public", "tags": ["summer"]},
    )
    assert r.status_code == 200, r.text
    patched = r.json()
    _has(patched, "imageId", "title", "visibility", "tags", "updatedAt")
    assert (patched["title"], patched["visibility"], patched["tags"]) == (
        "Sunset at the bay",
        "public",
        ["summer"],
    )
    assert _timestamp(patched["updatedAt"]) >= _timestamp(meta["createdAt"])
    thumbnail = _eventually_ok(httpx.URL(live.url).join(created["thumbnailUrl"]).__str__())
    assert thumbnail.status_code == 200 and thumbnail.headers["content-type"].startswith("image/")

    r = api.get(f"/v1/users/{user_id}/images", params={"limit": 10, "page": 1, "tag": "summer"})
    assert r.status_code == 200, r.text
    listing = r.json()
    _has(listing, "images", "page", "limit", "total")
    assert (listing["page"], listing["limit"], listing["total"]) == (1, 10, 1)
    [item] = listing["images"]
    _has(item, "imageId", "title", "thumbnailUrl", "visibility", "createdAt")
    assert (item["imageId"], item["title"], item["visibility"]) == (
        image_id,
        "Sunset at the bay",
        "public",
    )

    # `shared`, a value of the design's schema, is accepted and kept.
    r = api.patch(f"/v1/images/{image_id}", headers=auth, json={"visibility": "shared"})
    assert r.status_code == 200, r.text
    assert r.json()["visibility"] == "shared"
    assert httpx.get(f"{live.url}/images/{image_id}", timeout=30).status_code in (403, 404)

    r = api.post(
        f"/v1/images/{image_id}/share",
        headers=auth,
        json={"expiresIn": 600, "permissions": ["view"]},
    )
    assert r.status_code in (200, 201), r.text
    share = r.json()
    _has(share, "shareUrl", "expiresAt")
    assert _timestamp(share["expiresAt"]) > dt.datetime.now(dt.UTC)
    # A view-only share shows the image (a display rendition, not the original).
    shared = httpx.get(httpx.URL(live.url).join(share["shareUrl"]), timeout=30)
    assert shared.status_code == 200 and shared.headers["content-type"].startswith("image/")

    r = api.delete(f"/v1/images/{image_id}", headers=auth)
    assert r.status_code == 200, r.text
    deleted = r.json()
    _has(deleted, "imageId", "status", "deletedAt")
    assert (deleted["imageId"], deleted["status"]) == (image_id, "deleted")
    _timestamp(deleted["deletedAt"])
    assert api.get(f"/v1/images/{image_id}", headers=auth).status_code == 404
    api.close()
