"""Fixtures of the integration tests that are not about a running server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from imghost.testing.postgres import PostgresServer, psql


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty database on each backend, for migration tests."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        return
    pg: PostgresServer = request.getfixturevalue("pg_server")
    name = f"m_{uuid.uuid4().hex[:12]}"
    psql(pg, f"CREATE DATABASE {name}")
    yield pg.url(name)
    psql(pg, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
