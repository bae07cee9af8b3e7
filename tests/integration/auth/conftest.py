"""Fixtures of the login-throttle tests: a real redis-server, and the app in
process with clients at chosen addresses (``scope["client"]``), so a test can
be several callers without trusting any forwarded header."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI

from imghost.app import create_app
from imghost.settings import Settings
from imghost.testing.servers import RedisServer
from tests.integration.notifications.receivers import Received, SmtpSink


@pytest.fixture(params=["memory", "redis"])
def counters_at(request: pytest.FixtureRequest) -> str:
    """Where the throttle counts: ``""`` (memory) or a real Redis, emptied."""
    if request.param == "memory":
        return ""
    server: RedisServer = request.getfixturevalue("redis_session")
    server.flush()
    return server.url


class Callers:
    """``at(address)``: a client of the running app whose requests come from
    that address; ``at.app``: the app."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.clients: list[httpx.AsyncClient] = []

    def __call__(self, address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=(address, 40000))
        client = httpx.AsyncClient(transport=transport, base_url="http://imghost.test")
        self.clients.append(client)
        return client


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Callers]:
    """The app started (lifespan) in this event loop, and its callers."""
    app = create_app(settings)
    at = Callers(app)
    async with app.router.lifespan_context(app):
        try:
            yield at
        finally:
            for client in at.clients:
                await client.aclose()


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    """A real SMTP server (aiosmtpd) on loopback that keeps every message."""
    with SmtpSink(ignore_subjects=()) as sink:
        yield sink


def token_in(received: Received) -> str:
    """The one-time token an account e-mail carries."""
    text = received.message.get_content()
    found = re.search(r'"token": "(atk_[^"]+)"', text)
    assert found, text
    return found.group(1)
