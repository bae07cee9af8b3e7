"""GET /readyz against real servers: PostgreSQL, moto's S3, redis-server; and the
checks that fail, named with a reason that gives nothing away."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text, update

from imghost import migrate
from imghost.context import AppContext
from imghost.db import utcnow
from imghost.jobs import queue
from imghost.jobs.models import Job
from imghost.ops.readiness import Check, Readiness
from imghost.settings import Settings
from imghost.testing.servers import RedisServer
from tests.conftest import LiveServer, running_redis
from tests.factories import assert_problem
from tests.helpers.context import with_ctx


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    yield from running_redis()


def _readiness(ctx: AppContext, settings: Settings) -> Readiness:
    return Readiness(ctx.sessions, ctx.store, settings, migrate.revisions)


@pytest.mark.parametrize("backend", ["postgres-s3"], indirect=True)
def test_ready_on_postgres_s3_and_redis_then_redis_stops(
    settings_factory: Any, own_redis: RedisServer
) -> None:
    settings = settings_factory(redis_url=own_redis.url, ready_timeout=1.0)

    async def scenario(ctx: AppContext) -> tuple[dict[str, Check], dict[str, Check]]:
        readiness = _readiness(ctx, settings)
        try:
            up = await readiness._check_all()
            own_redis.stop()
            down = await readiness._check_all()
        finally:
            await readiness.close()
        return up, down

    up, down = with_ctx(settings, scenario)
    assert set(up) == {"database", "migrations", "store", "redis"}
    assert all(check.ok for check in up.values()), up
    assert up["migrations"].detail == f"at {migrate.revisions().head}"
    assert not down["redis"].ok
    assert down["redis"].detail.startswith("failed (")
    assert str(own_redis.port) not in down["redis"].detail  # no address in the answer
    assert all(down[name].ok for name in ("database", "migrations", "store"))


@pytest.mark.parametrize("backend", ["postgres-s3"], indirect=True)
def test_a_missing_database_is_named(settings_factory: Any) -> None:
    settings = settings_factory()
    missing = settings_factory(
        database_url=settings.database_url.rsplit("/", 1)[0] + "/no_such_database",
        ready_timeout=2.0,
    )

    async def scenario(ctx: AppContext) -> dict[str, Check]:
        return await _readiness(ctx, missing)._check_all()

    checks = with_ctx(missing, scenario)
    assert not checks["database"].ok and not checks["migrations"].ok
    assert "no_such_database" not in checks["database"].detail
    assert checks["store"].ok


@pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)
def test_migrations_behind_fail_and_ahead_pass(settings: Settings) -> None:
    async def scenario(ctx: AppContext) -> list[Check]:
        readiness = _readiness(ctx, settings)
        found = []
        for version in ("0030_job_priority", "9999_from_the_next_release"):
            async with ctx.sessions() as s:
                await s.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": version})
                await s.commit()
            found.append((await readiness._check_all())["migrations"])
        return found

    behind, ahead = with_ctx(settings, scenario)
    assert not behind.ok and "behind" in behind.detail and "imghost migrate" in behind.detail
    # A rolling upgrade migrated for the next release: this one still serves.
    assert ahead.ok and "ahead" in ahead.detail


@pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)
def test_queue_age_and_the_one_second_cache(settings_factory: Any) -> None:
    settings = settings_factory(ready_max_queue_age=30)
    now = [100.0]

    async def scenario(ctx: AppContext) -> list[Check]:
        readiness = Readiness(
            ctx.sessions, ctx.store, settings, migrate.revisions, clock=lambda: now[0]
        )
        first = (await readiness.result())["queue"]
        async with ctx.sessions() as s:
            job = queue.enqueue(s, "t", {})
            await s.commit()
            await s.execute(
                update(Job).where(Job.id == job.id).values(run_at=utcnow() - dt.timedelta(60))
            )
            await s.commit()
        cached = (await readiness.result())["queue"]  # the same second: not read again
        now[0] += 1.0
        late = (await readiness.result())["queue"]
        return [first, cached, late]

    first, cached, late = with_ctx(settings, scenario)
    assert first.ok and first.detail == "no job waiting"
    assert cached == first
    assert not late.ok and "(t) waited" in late.detail


@pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)
def test_readyz_over_http(settings_factory: Any) -> None:
    # Redis on a port nobody listens on: the one failing check.
    with (
        LiveServer(settings_factory()) as ok,
        LiveServer(
            settings_factory(redis_url="redis://:s3cret@127.0.0.1:9/0", ready_timeout=1.0)
        ) as broken,
    ):
        r = httpx.get(f"{ok.url}/readyz")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "ready"
        assert set(body["checks"]) == {"database", "migrations", "store"}
        assert r.headers["x-request-id"]

        r = httpx.get(f"{broken.url}/readyz")
        problem = assert_problem(r, 503, "not_ready")
        assert problem["checks"]["redis"]["ok"] is False
        assert problem["checks"]["database"]["ok"] is True
        assert "redis" in problem["detail"]
        assert "s3cret" not in r.text and ":9" not in r.text
        # Liveness stays cheap and says nothing of the rest.
        assert httpx.get(f"{broken.url}/healthz").status_code == 200

        # From the SIGTERM on (imghost.draining), while requests drain: not ready.
        assert ok.server._loop is not None
        ok.server._loop.call_soon_threadsafe(ok.app.state.draining.start)
        problem = assert_problem(httpx.get(f"{ok.url}/readyz"), 503, "not_ready")
        assert problem["checks"]["draining"]["ok"] is False
        assert problem["checks"]["database"]["ok"] is True
