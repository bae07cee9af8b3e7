"""Factories: users with tokens, and images generated with Pillow."""

from __future__ import annotations

import io
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from PIL import Image

PASSWORD = "correct horse battery"


@dataclass
class UserHandle:
    user_id: str
    username: str
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def make_user(client: httpx.Client, name: str | None = None) -> UserHandle:
    name = name or f"user{uuid.uuid4().hex[:8]}"
    email = f"{name}@example.com"
    r = client.post(
        "/v1/auth/signup", json={"username": name, "email": email, "password": PASSWORD}
    )
    assert r.status_code == 201, r.text
    user_id = r.json()["userId"]
    r = client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    tokens = r.json()
    return UserHandle(user_id, name, email, PASSWORD, tokens["accessToken"], tokens["refreshToken"])


def image_bytes(
    fmt: str = "JPEG",
    size: tuple[int, int] = (64, 48),
    color: tuple[int, int, int] = (200, 30, 30),
    **save: Any,
) -> bytes:
    if fmt.upper() in ("HEIF", "HEIC"):
        import pillow_heif

        pillow_heif.register_heif_opener()
        fmt = "HEIF"
    img = Image.new("RGB", size, color)
    buf = io.BytesIO()
    img.save(buf, format=fmt, **save)
    return buf.getvalue()


def upload(
    client: httpx.Client,
    user: UserHandle,
    data: bytes | None = None,
    filename: str = "photo.jpg",
    **fields: str,
) -> httpx.Response:
    data = image_bytes() if data is None else data
    return client.post(
        "/v1/images",
        headers=user.headers,
        files={"file": (filename, data, "application/octet-stream")},
        data=fields,
    )


def wait_processed(
    client: httpx.Client, user: UserHandle, image_id: str, timeout: float = 60
) -> dict[str, Any]:
    """Poll as the owner until the processing job has run (status is not `processing`)."""
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"/v1/images/{image_id}", headers=user.headers)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        if body["status"] != "processing":
            return body
        assert time.monotonic() < deadline, f"{image_id} still processing after {timeout}s"
        time.sleep(0.05)


def upload_ok(
    client: httpx.Client, user: UserHandle, *, processed: bool = True, **kwargs: Any
) -> dict[str, Any]:
    """Upload one file (201 expected); by default wait until it is processed."""
    r = upload(client, user, **kwargs)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    if processed:
        body = wait_processed(client, user, body["imageId"])
    return body


def assert_problem(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body: dict[str, Any] = r.json()
    assert body["code"] == code, body
    assert body["status"] == status
    assert body["detail"] and isinstance(body["detail"], str)
    return body
