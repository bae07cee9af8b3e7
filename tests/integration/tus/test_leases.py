"""The upload's lease on both databases: it lasts IMGHOST_TUS_LEASE from its last
renewal, and an abandoned one (its request died) is taken over then, not before.

The lease module's clock is moved instead of waiting for it: the comparisons
are the database's, against the time the module hands it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from imghost.accounts.models import User
from imghost.context import AppContext
from imghost.errors import AppError
from imghost.settings import Settings
from imghost.tus import leases
from imghost.tus.leases import LeaseLost
from imghost.uploads.models import Upload
from tests.conftest import BACKENDS, backend_fixture
from tests.helpers.context import with_ctx

# Rows and a clock: encryption at rest changes nothing here.
backend = backend_fixture(BACKENDS)

LEASE = 4
T0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def at(self, seconds: float) -> None:
        self.now = T0 + dt.timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(leases, "utcnow", lambda: clock.now)
    return clock


async def _upload(ctx: AppContext) -> str:
    async with ctx.sessions() as s:
        s.add(User(id="u_ann", username="ann", email="ann@example.com", password_hash="x"))
        await s.flush()
        s.add(
            Upload(
                id="upl_1",
                owner_id="u_ann",
                kind="tus",
                filename="a.png",
                size=10,
                content_type="application/octet-stream",
                blob_key="k",
                expires_at=T0 + dt.timedelta(days=1),
            )
        )
        await s.commit()
    return "upl_1"


async def _locked_until(ctx: AppContext, upload_id: str) -> dt.datetime | None:
    async with ctx.sessions() as s:
        row = await s.get(Upload, upload_id)
        assert row is not None
        return row.locked_until


async def _acquire(ctx: AppContext, settings: Settings, upload_id: str) -> str:
    async with ctx.sessions() as s:
        token = await leases.acquire(s, settings, upload_id)
        await s.commit()
        return token


async def _refused(ctx: AppContext, settings: Settings, upload_id: str) -> None:
    async with ctx.sessions() as s:
        with pytest.raises(AppError) as refused:
            await leases.acquire(s, settings, upload_id)
    assert (refused.value.status, refused.value.code) == (423, "upload_locked")


def test_an_abandoned_lease_is_taken_over_after_the_lease_and_not_before(
    settings_factory: Any, clock: Clock
) -> None:
    settings: Settings = settings_factory(tus_lease=LEASE)

    async def scenario(ctx: AppContext) -> None:
        upload_id = await _upload(ctx)
        # Taken by a request that then dies without giving it back.
        dead = await _acquire(ctx, settings, upload_id)
        assert await _locked_until(ctx, upload_id) == T0 + dt.timedelta(seconds=LEASE)
        clock.at(LEASE)
        await _refused(ctx, settings, upload_id)
        clock.at(LEASE + 0.001)
        taker = await _acquire(ctx, settings, upload_id)
        assert taker != dead
        # The dead request's token renews and records nothing any more.
        async with ctx.sessions() as s:
            with pytest.raises(LeaseLost):
                await leases.renew(s, settings, upload_id, dead)
            with pytest.raises(LeaseLost):
                await leases.save_progress(s, settings, upload_id, dead, 5, {})
        # The holder's renewal moves the end a whole lease on from then.
        clock.at(LEASE + 3)
        async with ctx.sessions() as s:
            await leases.renew(s, settings, upload_id, taker)
            await s.commit()
        assert await _locked_until(ctx, upload_id) == T0 + dt.timedelta(seconds=2 * LEASE + 3)
        clock.at(2 * LEASE + 3)
        await _refused(ctx, settings, upload_id)

    with_ctx(settings, scenario)
