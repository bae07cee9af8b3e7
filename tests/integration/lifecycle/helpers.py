"""Shared by the lifecycle tests: run the purge sweep and gc against a live
server's database and store, list what the store holds, fail a store on purpose."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from imghost.context import AppContext
from imghost.lifecycle.purge import SweepReport, sweep
from imghost.maintenance.gc import GcReport, collect
from imghost.storage import BlobStore
from tests.conftest import LiveServer
from tests.helpers.context import with_ctx

T = TypeVar("T")
DAY = dt.timedelta(days=1)


def keys(live: LiveServer, prefix: str) -> list[str]:
    async def work(ctx: AppContext) -> list[str]:
        return sorted([m.key async for m in ctx.store.list(prefix)])

    return with_ctx(live.settings, work)


def image_keys(live: LiveServer, owner_id: str, image_id: str) -> list[str]:
    return keys(live, f"{owner_id}/{image_id}/")


def run_sweep(
    live: LiveServer, now: dt.datetime | None = None, fail_after: int | None = None
) -> SweepReport:
    """One purge sweep at ``now``; with ``fail_after``, the blob store fails
    every delete after that many (a crash in the middle of the bytes step)."""

    async def work(ctx: AppContext) -> SweepReport:
        if fail_after is not None:
            ctx = dataclasses.replace(ctx, store=FailingStore(ctx.store, fail_after))
        return await sweep(ctx.purging, now)

    return with_ctx(live.settings, work)


def run_gc(live: LiveServer, grace: int = 0, dry_run: bool = True) -> GcReport:
    return with_ctx(live.settings, lambda ctx: collect(ctx.gc, grace, dry_run=dry_run))


class StoreDown(RuntimeError):
    pass


class FailingStore:
    """The real store, except that deletes fail once ``allowed`` have succeeded."""

    def __init__(self, inner: BlobStore, allowed: int) -> None:
        self.inner = inner
        self.allowed = allowed
        self.deleted: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def delete(self, key: str) -> None:
        if len(self.deleted) >= self.allowed:
            raise StoreDown(f"the store went away before deleting {key}")
        await self.inner.delete(key)
        self.deleted.append(key)

    def list(self, prefix: str = "") -> AsyncIterator[Any]:
        return self.inner.list(prefix)
