"""Request bodies are bounded in size before routing and in time everywhere
(issue 14: slow bodies, bodies read whole before any check)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.conftest import LiveServer
from tests.factories import assert_problem, image_bytes
from tests.integration.bodies.conftest import Asgi, Held, Serve, multipart
from tests.integration.tus.helpers import noise_png

pytestmark = pytest.mark.anyio

TUS = {"Tus-Resumable": "1.0.0"}
FAST = {"body_idle_timeout": 0.3}


def _files(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file()] if directory.exists() else []


async def test_a_stalled_direct_upload_is_answered_408_and_leaves_nothing(serve: Serve) -> None:
    async with serve(**FAST) as asgi:
        user = await asgi.user()
        body, content_type = multipart(image_bytes("PNG", (300, 300)))
        held = Held(body[:400])  # never released: the client stops sending
        with anyio.fail_after(10):
            r = await asgi.client.post(
                "/v1/images", content=held, headers={**user.headers, "Content-Type": content_type}
            )
        assert_problem(r, 408, "body_timeout")
        assert r.headers["connection"] == "close"
        assert _files(asgi.ctx.store.staging_dir) == []
        r = await asgi.client.get("/v1/images", headers=user.headers)
        assert r.status_code == 200 and r.json()["total"] == 0, r.text


async def test_a_stalled_tus_patch_is_answered_408_and_keeps_its_bytes(serve: Serve) -> None:
    async with serve(**FAST) as asgi:
        user = await asgi.user()
        data = noise_png(200, 200)
        assert len(data) > 3000
        r = await asgi.client.post(
            "/v1/tus/", headers={**TUS, **user.headers, "Upload-Length": str(len(data))}
        )
        path = r.headers["location"]
        headers = {
            **TUS,
            **user.headers,
            "Content-Type": "application/offset+octet-stream",
            "Upload-Offset": "0",
        }
        with anyio.fail_after(10):
            r = await asgi.client.patch(path, content=Held(data[:3000]), headers=headers)
        assert r.status_code == 408, r.text
        r = await asgi.client.head(path, headers={**TUS, **user.headers})
        assert r.headers["upload-offset"] == "3000"
        r = await asgi.client.patch(
            path, content=data[3000:], headers={**headers, "Upload-Offset": "3000"}
        )
        assert r.status_code == 204, r.text


async def test_a_trickle_below_the_minimum_rate_is_answered_408(serve: Serve) -> None:
    """One byte every 20 ms never idles, but averages 50 bytes/s."""

    async def trickle() -> AsyncIterator[bytes]:
        yield b'{"displayName": "'
        while True:
            await asyncio.sleep(0.02)
            yield b"x"

    async with serve(body_idle_timeout=0.5, body_min_rate=1000) as asgi:
        user = await asgi.user()
        with anyio.fail_after(10):
            r = await asgi.client.patch(
                "/v1/users/me",
                content=trickle(),
                headers={**user.headers, "Content-Type": "application/json"},
            )
        assert_problem(r, 408, "body_timeout")


async def test_a_large_json_body_is_refused_before_it_is_read(serve: Serve) -> None:
    async with serve(max_json_body=1000) as asgi:
        pulled = 0

        async def big() -> AsyncIterator[bytes]:
            nonlocal pulled
            yield b'{"username": "'
            for _ in range(10_000):  # 10 MB if it were all read
                pulled += 1
                yield b"x" * 1000

        with anyio.fail_after(10):
            # Declared: refused on the header alone, nothing read.
            r = await asgi.client.post(
                "/v1/auth/signup",
                content=b"{" + b" " * 5000 + b"}",
                headers={"Content-Type": "application/json"},
            )
            assert_problem(r, 413, "body_too_large")
            # Streamed without a length: refused as the count passes the limit.
            r = await asgi.client.post(
                "/v1/auth/signup", content=big(), headers={"Content-Type": "application/json"}
            )
        assert_problem(r, 413, "body_too_large")
        assert pulled <= 2
        # Small bodies still pass.
        r = await asgi.client.post("/v1/auth/signup", json={"username": "x"})
        assert r.status_code == 422, r.text


async def test_upload_routes_keep_their_own_larger_limits(serve: Serve) -> None:
    """Exempt by route: the same bytes that a JSON route refuses are an upload here."""
    async with serve(max_json_body=1000) as asgi:
        user = await asgi.user()
        body, content_type = multipart(noise_png(40, 40))
        assert len(body) > 4000
        r = await asgi.client.post(
            "/v1/auth/signup", content=body, headers={"Content-Type": content_type}
        )
        assert_problem(r, 413, "body_too_large")
        r = await asgi.client.post(
            "/v1/images", content=body, headers={**user.headers, "Content-Type": content_type}
        )
        assert r.status_code == 201, r.text


async def _upload_held(asgi: Asgi, token: dict[str, str]) -> tuple[asyncio.Task[object], Held]:
    body, content_type = multipart(image_bytes("PNG"))
    held = Held(body[:100], body[100:])
    task = asyncio.create_task(
        asgi.client.post(
            "/v1/images", content=held, headers={**token, "Content-Type": content_type}
        )
    )
    await held.reading.wait()
    return task, held


@pytest.mark.parametrize("cap", ["uploads_per_user", "uploads_per_address"])
async def test_concurrent_uploads_are_capped(serve: Serve, cap: str) -> None:
    caps = {"uploads_per_user": 10, "uploads_per_address": 10, cap: 1}
    async with serve(**caps) as asgi:
        first, second = await asgi.user(), await asgi.user()
        other = first if cap == "uploads_per_user" else second
        with anyio.fail_after(20):
            task, held = await _upload_held(asgi, first.headers)
            # The same bytes twice: the second asks for a copy, not the duplicate.
            body, content_type = multipart(image_bytes("PNG"), allowDuplicate="true")
            r = await asgi.client.post(
                "/v1/images",
                content=body,
                headers={**other.headers, "Content-Type": content_type},
            )
            assert_problem(r, 429, "too_many_uploads")
            assert int(r.headers["retry-after"]) > 0
            held.release()
            done = await task
            assert done.status_code == 201, done.text  # type: ignore[attr-defined]
            # The slot is free again.
            r = await asgi.client.post(
                "/v1/images",
                content=body,
                headers={**other.headers, "Content-Type": content_type},
            )
            assert r.status_code == 201, r.text


async def test_a_stalled_presigned_upload_request_is_answered_408(serve: Serve) -> None:
    """POST /v1/uploads: the rate limits read its JSON (the declared size)
    before the route; that read is bounded too."""
    async with serve(**FAST) as asgi:
        user = await asgi.user()
        with anyio.fail_after(10):
            r = await asgi.client.post(
                "/v1/uploads",
                content=Held(b'{"filename": "a.png", '),
                headers={**user.headers, "Content-Type": "application/json"},
            )
        assert_problem(r, 408, "body_timeout")


def test_uvicorn_answers_a_stalled_body_408_and_closes(settings_factory: Any) -> None:
    """Through the real server: a half-sent body on a socket."""
    settings = settings_factory(run_worker=False, **FAST)
    with LiveServer(settings) as live, socket.create_connection(("127.0.0.1", live.port)) as sock:
        sock.sendall(
            b"POST /v1/auth/signup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"username": '
        )
        sock.settimeout(10)
        reply = b""
        while chunk := sock.recv(65536):  # until the server closes
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 408"), reply
    assert b"body_timeout" in reply


async def test_a_finalize_json_over_its_cap_is_body_too_large(serve: Serve) -> None:
    # The finalize of a presigned upload reads its JSON itself (an upload
    # route): the same code as every other JSON body over its limit.
    async with serve() as asgi:
        user = await asgi.user()
        big = b'{"uploadId": "' + b"u" * 300_000 + b'"}'
        headers = {**user.headers, "Content-Type": "application/json"}
        r = await asgi.client.post("/v1/images", content=big, headers=headers)
        assert_problem(r, 413, "body_too_large")

        async def streamed() -> AsyncIterator[bytes]:
            for start in range(0, len(big), 10_000):
                yield big[start : start + 10_000]

        r = await asgi.client.post("/v1/images", content=streamed(), headers=headers)
        assert_problem(r, 413, "body_too_large")
