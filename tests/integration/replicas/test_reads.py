"""Reads on a real streaming replica: who reads it, who reads the primary, and when.

The replica's replay is paused to make its lag visible: a write on the
primary then does not show on it until replay resumes. Each test resumes it.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest

from imghost.settings import Settings
from imghost.testing.postgres import PostgresServer, start_replica
from imghost.testing.servers import RedisServer
from tests.conftest import LiveServer, backend_fixture
from tests.factories import UserHandle, make_user, upload_ok

backend = backend_fixture(["postgres-s3"])

Factory = Callable[..., Settings]


def _sql(url: str, *statements: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(url)
        try:
            for statement in statements:
                # Bounded: a wait for a replica that is gone fails, not hangs.
                await conn.execute(statement, timeout=30)
        finally:
            await conn.close()

    asyncio.run(run())


def _synced(primary: str, level: str) -> None:
    """Return once the replica has received (``on``) or replayed (``remote_apply``)
    everything committed on ``primary`` so far: a transaction that writes WAL
    (here a message no one decodes) commits only when the synchronous standby
    has (conftest's ``pg_replica``). One that only takes an xid writes none
    and would not wait."""
    _sql(
        primary,
        f"BEGIN; SET LOCAL synchronous_commit = {level}; "
        "SELECT pg_logical_emit_message(true, 'imghost-test', ''); COMMIT",
    )


class Replay:
    """Pausing and resuming the replica's WAL replay (resumed at the end, always)."""

    def __init__(self, primary: str, replica: PostgresServer) -> None:
        self.primary = primary
        self.replica = replica.url()

    def pause(self) -> None:
        # Takes effect before the next record is applied: nothing committed
        # after this returns shows on the replica until resume().
        _sql(self.replica, "SELECT pg_wal_replay_pause()")

    def resume(self) -> None:
        _sql(self.replica, "SELECT pg_wal_replay_resume()")
        _synced(self.primary, "remote_apply")

    def received(self) -> None:
        _synced(self.primary, "on")


def _database(settings: Settings) -> str:
    return settings.database_url.rsplit("/", 1)[1]


@pytest.fixture
def setup(
    settings_factory: Factory, pg_replica: PostgresServer, redis_session: RedisServer
) -> Iterator[tuple[Factory, Replay]]:
    """Settings with the replica of this test's database, and its replay."""
    redis_session.flush()
    base = settings_factory()
    replica_url = pg_replica.url(_database(base))

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_replica_urls": replica_url,
            "redis_url": redis_session.url,
            **overrides,
        }
        return settings_factory(**values)

    replay = Replay(base.database_url, pg_replica)
    try:
        yield make, replay
    finally:
        replay.resume()


def _titles(client: httpx.Client, owner: UserHandle, user: UserHandle | None) -> list[str]:
    headers = user.headers if user else {}
    r = client.get("/v1/images", params={"user": owner.user_id}, headers=headers)
    assert r.status_code == 200, r.text
    return [i["title"] for i in r.json()["images"]]


def _published(client: httpx.Client, replay: Replay) -> tuple[UserHandle, UserHandle, str]:
    """Alice with a public image titled "before", and Bob; all of it on the replica."""
    alice, bob = make_user(client), make_user(client)
    image_id: str = upload_ok(client, alice, title="before", visibility="public")["imageId"]
    replay.resume()
    return alice, bob, image_id


def _retitle(client: httpx.Client, user: UserHandle, image_id: str, **fields: str) -> None:
    r = client.patch(f"/v1/images/{image_id}", json=fields, headers=user.headers)
    assert r.status_code == 200, r.text


def test_listings_read_the_replica_and_writers_their_writes(
    setup: tuple[Factory, Replay],
) -> None:
    make, replay = setup
    # Lag is never too much here: the replica serves whoever may read it.
    settings = make(replica_max_lag=3600, replica_sticky_seconds=3601)
    with LiveServer(settings) as live, httpx.Client(base_url=live.url) as client:
        alice, bob, image_id = _published(client, replay)
        assert _titles(client, alice, None) == ["before"]

        replay.pause()
        _retitle(client, alice, image_id, title="after")
        # Strangers read the replica, which has not replayed the change yet...
        assert _titles(client, alice, None) == ["before"]
        assert _titles(client, alice, bob) == ["before"]
        # ...the writer reads the primary for a while (their marker in Redis).
        assert _titles(client, alice, alice) == ["after"]
        # The other routes that read a replica, for a caller it serves (Bob).
        for path in ("/v1/albums", "/v1/trash", "/v1/users/me/usage"):
            r = client.get(path, headers=bob.headers)
            assert r.status_code == 200, (path, r.text)

        # Un-publishing acts at once where bytes are served: delivery reads the
        # primary, though the paused replica still lists the image.
        assert client.get(f"/images/{image_id}").status_code == 200
        _retitle(client, alice, image_id, visibility="private")
        assert client.get(f"/images/{image_id}").status_code == 403
        assert client.get(f"/v1/images/{image_id}").status_code == 403
        assert _titles(client, alice, None) == ["before"]

        replay.resume()
        assert _titles(client, alice, None) == []
        assert _titles(client, alice, alice) == ["after"]


def test_a_lagging_replica_is_skipped(setup: tuple[Factory, Replay]) -> None:
    make, replay = setup
    # Any lag at all is too much, measured on every read.
    settings = make(replica_max_lag=0, replica_lag_check=0.001, replica_sticky_seconds=1)
    with LiveServer(settings) as live, httpx.Client(base_url=live.url) as client:
        alice, _, image_id = _published(client, replay)
        replay.pause()
        _retitle(client, alice, image_id, title="after")
        replay.received()  # the replica has the change, not yet replayed: it lags
        assert _titles(client, alice, None) == ["after"]


def test_without_redis_signed_in_callers_read_the_primary(
    setup: tuple[Factory, Replay],
) -> None:
    make, replay = setup
    settings = make(redis_url="", replica_max_lag=3600, replica_sticky_seconds=3601)
    with LiveServer(settings) as live, httpx.Client(base_url=live.url) as client:
        alice, bob, image_id = _published(client, replay)
        replay.pause()
        _retitle(client, alice, image_id, title="after")
        # Nobody can tell whether Bob wrote: his reads go to the primary.
        assert _titles(client, alice, bob) == ["after"]
        assert _titles(client, alice, None) == ["before"]


def test_reads_go_to_the_primary_when_the_replica_is_lost(
    settings_factory: Factory, pg_server: PostgresServer
) -> None:
    base = settings_factory()
    with LiveServer(base) as live, httpx.Client(base_url=live.url) as client:
        alice = make_user(client)
        upload_ok(client, alice, title="kept", visibility="public")
    # A replica of its own, to stop (taken after the image: it has it).
    replica = start_replica(pg_server)
    try:
        settings = settings_factory(
            database_replica_urls=replica.url(_database(base)),
            replica_max_lag=3600,
            replica_sticky_seconds=3601,
        )
        with LiveServer(settings) as live, httpx.Client(base_url=live.url) as client:
            assert _titles(client, alice, None) == ["kept"]  # pooled connections to it now
            replica.stop()
            assert _titles(client, alice, None) == ["kept"]
            assert _titles(client, alice, None) == ["kept"]  # skipped now
    finally:
        replica.stop()


def test_a_replica_that_does_not_answer_is_waited_for_briefly(settings_factory: Factory) -> None:
    # Accepts connections (the kernel does) and never answers a byte.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        settings = settings_factory(
            database_replica_urls=f"postgresql://imghost:imghost@127.0.0.1:{port}/x",
            replica_timeout=0.2,
        )
        with LiveServer(settings) as live, httpx.Client(base_url=live.url) as client:
            started = time.monotonic()
            r = client.get("/v1/images")
            assert r.status_code == 200, r.text
            assert time.monotonic() - started < 2
            started = time.monotonic()
            assert client.get("/v1/images").status_code == 200
            assert time.monotonic() - started < 0.2  # skipped: no wait
