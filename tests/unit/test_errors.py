"""errors.py: a database that cannot be reached answers 503, not 500."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError

from imghost.errors import database_unreachable, install_handlers
from imghost.middleware import UnexpectedErrors


class CannotConnectNowError(Exception):
    """Like asyncpg's: the server is starting up (SQLSTATE 57P03)."""

    sqlstate = "57P03"


class UniqueViolationError(Exception):
    sqlstate = "23505"


def _wrapped(orig: BaseException) -> DBAPIError:
    return DBAPIError("SELECT 1", None, orig)


def test_connection_failures_are_unreachable() -> None:
    assert database_unreachable(_wrapped(CannotConnectNowError()))
    assert database_unreachable(_wrapped(ConnectionRefusedError()))
    invalidated = DBAPIError("SELECT 1", None, Exception("gone"), connection_invalidated=True)
    assert database_unreachable(invalidated)


def test_a_failing_statement_is_not() -> None:
    assert not database_unreachable(_wrapped(UniqueViolationError()))


def _app(exc: Exception) -> httpx.AsyncClient:
    app = FastAPI()
    install_handlers(app)
    app.add_middleware(UnexpectedErrors)  # inside Starlette's own error middleware, as in app.py

    @app.get("/boom")
    async def boom() -> None:
        raise exc

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


def test_unreachable_database_answers_503_with_retry_after() -> None:
    async def main() -> httpx.Response:
        async with _app(_wrapped(CannotConnectNowError())) as client:
            return await client.get("/boom")

    r = asyncio.run(main())
    assert r.status_code == 503
    assert r.json()["code"] == "database_unavailable"
    assert r.headers["retry-after"] == "2"


def test_other_database_errors_stay_500() -> None:
    async def main() -> httpx.Response:
        async with _app(_wrapped(UniqueViolationError())) as client:
            return await client.get("/boom")

    r = asyncio.run(main())
    assert r.status_code == 500
    assert r.json()["code"] == "internal_error"


def _refused_connection() -> BaseException:
    from sqlalchemy import text

    from imghost.db import create_engine
    from imghost.testing.servers import free_port

    async def main() -> BaseException:
        engine = create_engine(f"postgresql://u:p@127.0.0.1:{free_port()}/db")
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            return exc
        finally:
            await engine.dispose()
        raise AssertionError("connected to a closed port")

    return asyncio.run(main())


def test_a_refused_connection_is_unreachable_and_answers_503() -> None:
    # asyncpg raises the socket's bare OSError when the server is down.
    exc = _refused_connection()
    assert database_unreachable(exc)

    async def main() -> httpx.Response:
        assert isinstance(exc, Exception)
        async with _app(exc) as client:
            return await client.get("/boom")

    r = asyncio.run(main())
    assert r.status_code == 503
    assert r.json()["code"] == "database_unavailable"


def test_an_os_error_elsewhere_is_not_the_database() -> None:
    with pytest.raises(OSError, match="No space") as raised:
        raise OSError(28, "No space left on device")
    assert not database_unreachable(raised.value)

    async def main() -> httpx.Response:
        async with _app(OSError(28, "No space left on device")) as client:
            return await client.get("/boom")

    r = asyncio.run(main())
    assert r.status_code == 500
    assert r.json()["code"] == "internal_error"
