"""Small tus client steps for protocol tests (the real clients are tested elsewhere)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import os
import socket
from typing import Any, TypeVar

import httpx
from PIL import Image
from sqlalchemy import select, update

from imghost.context import AppContext
from imghost.settings import Settings
from imghost.storage.resumable import Leftover
from imghost.uploads.models import Upload
from tests.factories import UserHandle
from tests.helpers.context import with_ctx

T = TypeVar("T")
TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = {"Content-Type": "application/offset+octet-stream"}


def metadata(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def create(
    client: httpx.Client,
    user: UserHandle,
    length: int | None,
    headers: dict[str, str] | None = None,
    **meta: str,
) -> httpx.Response:
    sent = {**TUS, **user.headers, **(headers or {})}
    if length is not None:
        sent["Upload-Length"] = str(length)
    if meta:
        sent["Upload-Metadata"] = metadata(**meta)
    return client.post("/v1/tus/", headers=sent)


def created_path(response: httpx.Response) -> str:
    assert response.status_code == 201, response.text
    location = response.headers["location"]
    assert location.startswith("/v1/tus/upl_")
    return location


def patch(
    client: httpx.Client,
    user: UserHandle,
    path: str,
    offset: int,
    data: bytes,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    sent = {**TUS, **OCTETS, **user.headers, "Upload-Offset": str(offset), **(headers or {})}
    return client.patch(path, headers=sent, content=data)


def send_partial_patch(
    port: int, path: str, user: UserHandle, offset: int, total: int, body: bytes
) -> socket.socket:
    """Start a PATCH announcing ``total`` bytes and send only ``body``."""
    sock = socket.create_connection(("127.0.0.1", port))
    head_lines = [
        f"PATCH {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Tus-Resumable: 1.0.0",
        "Content-Type: application/offset+octet-stream",
        f"Upload-Offset: {offset}",
        f"Content-Length: {total}",
        f"Authorization: {user.headers['Authorization']}",
        "",
        "",
    ]
    sock.sendall("\r\n".join(head_lines).encode() + body)
    return sock


def head(client: httpx.Client, user: UserHandle, path: str) -> httpx.Response:
    return client.head(path, headers={**TUS, **user.headers})


def status(client: httpx.Client, user: UserHandle, path: str) -> dict[str, Any]:
    upload_id = path.rsplit("/", 1)[-1]
    r = client.get(f"/v1/uploads/{upload_id}", headers=user.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def upload_whole(
    client: httpx.Client, user: UserHandle, data: bytes, chunk: int = 1 << 20, **meta: str
) -> str:
    path = created_path(create(client, user, len(data), None, **meta))
    for start in range(0, len(data), chunk):
        r = patch(client, user, path, start, data[start : start + chunk])
        assert r.status_code == 204, r.text
        assert int(r.headers["upload-offset"]) == min(start + chunk, len(data))
    return path


def checksum(algorithm: str, data: bytes) -> str:
    return f"{algorithm} {base64.b64encode(hashlib.new(algorithm, data).digest()).decode()}"


def noise_png(width: int, height: int) -> bytes:
    """A valid PNG that does not compress: its size is about width*height*3."""
    img = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=0)
    return buf.getvalue()


def leftovers(settings: Settings) -> list[Leftover]:
    return with_ctx(settings, lambda ctx: ctx.resumable.leftovers())


def upload_row(settings: Settings, upload_id: str) -> Upload:
    async def read(ctx: AppContext) -> Upload:
        async with ctx.sessions() as session:
            row = await session.get(Upload, upload_id)
            assert row is not None
            return row

    return with_ctx(settings, read)


def set_row(settings: Settings, upload_id: str, **values: Any) -> None:
    """Change an upload's row behind the server's back (another process, a clock)."""

    async def write(ctx: AppContext) -> None:
        async with ctx.sessions() as session:
            await session.execute(update(Upload).where(Upload.id == upload_id).values(**values))
            await session.commit()

    with_ctx(settings, write)


def steal_lease(settings: Settings, upload_id: str) -> None:
    """As if this request's lease ran out and another request took the upload."""
    until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=60)
    set_row(settings, upload_id, lock_token="lck_thief", locked_until=until)


def upload_ids(settings: Settings, **where: Any) -> list[str]:
    async def read(ctx: AppContext) -> list[str]:
        async with ctx.sessions() as session:
            found = await session.scalars(select(Upload.id).filter_by(**where))
            return list(found)

    return with_ctx(settings, read)
