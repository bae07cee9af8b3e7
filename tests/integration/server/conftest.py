"""Fixtures for the HTTP server's limits: raw loopback sockets against a live server."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["sqlite-local"])
def backend(request: pytest.FixtureRequest) -> str:
    # The limits live in the HTTP protocol, before any route, database or blob
    # store is reached: one backend combination shows them (the delivery tests
    # run on both with the same server config).
    return str(request.param)
