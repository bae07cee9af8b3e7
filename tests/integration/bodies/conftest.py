"""The app in this process behind httpx's ASGI transport, for body tests.

In process, a request body can be an async generator that the app pulls
chunk by chunk: the generator runs its next step exactly when the route asks
for more, so a test can look at the server (its database pool) while a body
is in flight, or hold a body open, without sleeping or polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from imghost.app import create_app
from imghost.context import AppContext
from tests.factories import PASSWORD, UserHandle


@dataclass
class Asgi:
    app: FastAPI
    client: httpx.AsyncClient

    @property
    def ctx(self) -> AppContext:
        ctx: AppContext = self.app.state.ctx
        return ctx

    def checked_out(self) -> int:
        """Pooled database connections in use right now."""
        return int(self.ctx.engine.pool.checkedout())  # type: ignore[attr-defined]

    async def user(self) -> UserHandle:
        name = f"user{uuid.uuid4().hex[:8]}"
        email = f"{name}@example.com"
        r = await self.client.post(
            "/v1/auth/signup", json={"username": name, "email": email, "password": PASSWORD}
        )
        assert r.status_code == 201, r.text
        user_id = r.json()["userId"]
        r = await self.client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        tokens = r.json()
        return UserHandle(
            user_id, name, email, PASSWORD, tokens["accessToken"], tokens["refreshToken"]
        )


Serve = Callable[..., contextlib.AbstractAsyncContextManager[Asgi]]


@pytest.fixture
def serve(settings_factory: Any) -> Serve:
    @contextlib.asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[Asgi]:
        settings = settings_factory(**{"run_worker": False, **overrides})
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://127.0.0.1:8000", timeout=30
            ) as client:
                yield Asgi(app, client)

    return start


class Held:
    """A request body: ``head``, then nothing until :meth:`release`, then ``tail``.

    ``reading`` is set when the route asks for the bytes after ``head``: the
    request is then inside its body, waiting on the client. ``on_reading``
    runs at that moment (to look at the server).
    """

    def __init__(
        self, head: bytes, tail: bytes = b"", on_reading: Callable[[], None] | None = None
    ) -> None:
        self.head = head
        self.tail = tail
        self.on_reading = on_reading
        self.reading = asyncio.Event()
        self._released = asyncio.Event()

    def release(self) -> None:
        self._released.set()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.head
        if self.on_reading is not None:
            self.on_reading()
        self.reading.set()
        await self._released.wait()
        if self.tail:
            yield self.tail


def multipart(data: bytes, boundary: str = "b0undary", **fields: str) -> tuple[bytes, str]:
    """One file part (and text fields) as a multipart body, and its content type."""
    parts = b""
    for name, value in fields.items():
        parts += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    parts += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    body = parts + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"
