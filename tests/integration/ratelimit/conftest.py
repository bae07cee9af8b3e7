"""A real redis-server on loopback for the rate-limit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from imghost.testing.servers import RedisServer
from tests.conftest import running_redis


@pytest.fixture
def redis_server(redis_session: RedisServer) -> RedisServer:
    """The session's server, emptied: each test starts with no counts."""
    redis_session.flush()
    return redis_session


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A server of this test's own, which it may stop and start again."""
    yield from running_redis()
