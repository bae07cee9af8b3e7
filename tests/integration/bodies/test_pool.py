"""No pooled database connection is held while a request body streams in,
and an exhausted pool answers 503 quickly (issue 14, slow bodies)."""

from __future__ import annotations

import base64
import time
from typing import Any

import anyio
import httpx
import pytest
from sqlalchemy import event

from imghost.uploads import services
from tests.factories import assert_problem, image_bytes
from tests.integration.bodies.conftest import Held, Serve, multipart

pytestmark = pytest.mark.anyio

TUS = {"Tus-Resumable": "1.0.0"}


async def test_no_connection_is_held_while_an_upload_body_is_read(serve: Serve) -> None:
    async with serve() as asgi:
        user = await asgi.user()
        seen: dict[str, int] = {}

        def look(route: str) -> Held:
            return Held(b"", b"", on_reading=lambda: seen.__setitem__(route, asgi.checked_out()))

        data = image_bytes("PNG")
        with anyio.fail_after(20):
            # Direct upload (multipart).
            body, content_type = multipart(data, title="slow")
            held = look("direct")
            held.head, held.tail = body[:200], body[200:]
            held.release()
            r = await asgi.client.post(
                "/v1/images",
                content=held,
                headers={**user.headers, "Content-Type": content_type},
            )
            assert r.status_code == 201, r.text

            # tus PATCH.
            r = await asgi.client.post(
                "/v1/tus/", headers={**TUS, **user.headers, "Upload-Length": str(len(data))}
            )
            assert r.status_code == 201, r.text
            held = look("tus")
            held.head, held.tail = data[:100], data[100:]
            held.release()
            r = await asgi.client.patch(
                r.headers["location"],
                content=held,
                headers={
                    **TUS,
                    **user.headers,
                    "Content-Type": "application/offset+octet-stream",
                    "Upload-Offset": "0",
                },
            )
            assert r.status_code == 204, r.text

            # JSON read by the route itself (finalize of a presigned upload).
            held = look("finalize")
            held.head, held.tail = b'{"uploadId": ', b'"upl_none"}'
            held.release()
            r = await asgi.client.post(
                "/v1/images",
                content=held,
                headers={**user.headers, "Content-Type": "application/json"},
            )
            assert r.status_code == 404, r.text

            # JSON parsed by FastAPI before the dependencies.
            held = look("json")
            held.head, held.tail = b'{"displayName": ', b'"Slow"}'
            held.release()
            r = await asgi.client.patch(
                "/v1/users/me",
                content=held,
                headers={**user.headers, "Content-Type": "application/json"},
            )
            assert r.status_code == 200, r.text

            # The local signed-URL PUT of a presigned upload (files only: on S3
            # the bytes go to the bucket).
            r = await asgi.client.post(
                "/v1/uploads",
                json={"filename": "a.png", "size": len(data), "contentType": "image/png"},
                headers=user.headers,
            )
            assert r.status_code == 201, r.text
            url = r.json()["presignedUrl"]
            if asgi.ctx.settings.storage_url.startswith("file://"):
                held = look("put")
                held.head, held.tail = data[:100], data[100:]
                held.release()
                r = await asgi.client.put(url, content=held)
                assert r.status_code == 200, r.text
    expected = {"direct": 0, "tus": 0, "finalize": 0, "json": 0}
    if "put" in seen:
        expected["put"] = 0
    assert seen == expected


async def test_an_exhausted_pool_answers_503_quickly(serve: Serve) -> None:
    async with serve(db_pool_timeout=0.3) as asgi:
        user = await asgi.user()
        pool = asgi.ctx.engine.pool
        # Every connection the pool may hand out, held by someone else.
        held = [
            await asgi.ctx.engine.connect()
            for _ in range(pool.size() + pool._max_overflow)  # type: ignore[attr-defined]
        ]
        try:
            started = time.monotonic()
            with anyio.fail_after(10):
                r = await asgi.client.get("/v1/users/me", headers=user.headers)
            assert_problem(r, 503, "server_busy")
            assert int(r.headers["retry-after"]) > 0
            assert time.monotonic() - started < 5
        finally:
            for conn in held:
                await conn.close()
        r = await asgi.client.get("/v1/users/me", headers=user.headers)
        assert r.status_code == 200, r.text


async def test_no_connection_is_held_while_an_image_is_validated(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Validation can wait minutes (the fair queue, the pixel pool): a
    # connection held through it let two users' uploads empty the pool. The
    # routes that read rows first (album permission, the upload's row) end
    # that transaction before validating.
    async with serve() as asgi:
        user = await asgi.user()
        r = await asgi.client.post("/v1/albums", json={"title": "Mine"}, headers=user.headers)
        assert r.status_code == 201, r.text
        album = r.json()["albumId"]
        seen: list[tuple[str, int]] = []
        route = ""
        validate = services.validate_image

        async def watched(*args: Any, **kwargs: Any) -> Any:
            seen.append((route, asgi.checked_out()))
            return await validate(*args, **kwargs)

        monkeypatch.setattr(services, "validate_image", watched)
        data = image_bytes("PNG")
        with anyio.fail_after(30):
            route = "direct"
            # The same bytes on each path: each asks for a copy (not the duplicate).
            body, content_type = multipart(data, albumId=album, allowDuplicate="true")
            r = await asgi.client.post(
                "/v1/images",
                content=body,
                headers={**user.headers, "Content-Type": content_type},
            )
            assert r.status_code == 201, r.text

            route = "finalize"
            r = await asgi.client.post(
                "/v1/uploads",
                json={"filename": "a.png", "size": len(data), "contentType": "image/png"},
                headers=user.headers,
            )
            assert r.status_code == 201, r.text
            upload_id, url = r.json()["uploadId"], r.json()["presignedUrl"]
            if asgi.ctx.settings.storage_url.startswith("s3://"):
                async with httpx.AsyncClient() as s3:
                    put = await s3.put(url, content=data)
            else:
                put = await asgi.client.put(url, content=data)
            assert put.status_code == 200, put.text
            r = await asgi.client.post(
                "/v1/images",
                json={"uploadId": upload_id, "albumId": album, "allowDuplicate": True},
                headers=user.headers,
            )
            assert r.status_code == 201, r.text

            route = "tus"
            album_b64 = base64.b64encode(album.encode()).decode()
            r = await asgi.client.post(
                "/v1/tus/",
                content=data,
                headers={
                    **TUS,
                    **user.headers,
                    "Upload-Length": str(len(data)),
                    "Upload-Metadata": f"albumId {album_b64},allowDuplicate dHJ1ZQ==",
                    "Content-Type": "application/offset+octet-stream",
                },
            )
            assert r.status_code == 201, r.text
            assert r.headers["upload-offset"] == str(len(data))
    assert seen == [("direct", 0), ("finalize", 0), ("tus", 0)]


async def test_an_authenticated_call_checks_out_one_connection(serve: Serve) -> None:
    # Only the upload routes, which stream their own body, authenticate in a
    # session of their own; a JSON route's body is read before its
    # dependencies, so it authenticates in the request's session: one pool
    # checkout (and pre-ping) per call, not two.
    async with serve() as asgi:
        user = await asgi.user()
        checkouts = 0

        def count(*_: Any) -> None:
            nonlocal checkouts
            checkouts += 1

        engine = asgi.ctx.engine.sync_engine
        event.listen(engine, "checkout", count)
        try:
            # A route that reads a row of its own after authenticating.
            r = await asgi.client.get("/v1/uploads/upl_none", headers=user.headers)
            assert r.status_code == 404, r.text
        finally:
            event.remove(engine, "checkout", count)
    assert checkouts == 1
