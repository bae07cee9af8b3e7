"""The worker's periodic pass runs the purge sweep, account deletions, export
expiry, the rendition cache's sweep and gc, in that order, and goes on when one
of them fails."""

from __future__ import annotations

import asyncio
import random
from types import SimpleNamespace
from typing import Any

import pytest

from imghost import composition
from imghost.accounts import tasks as account_tasks
from imghost.audit import tasks as audit_tasks
from imghost.exports import tasks as export_tasks
from imghost.jobs import worker
from imghost.lifecycle import purge
from imghost.maintenance import gc
from imghost.maintenance.tasks import MAINTENANCE
from imghost.processing import rendition_cache
from imghost.settings import Settings

pytestmark = pytest.mark.anyio


async def test_each_pass_sweeps_the_rendition_cache(monkeypatch: Any) -> None:
    calls: list[str] = []
    second_pass = asyncio.Event()

    def step(name: str, fail: bool = False) -> Any:
        async def run(*deps: Any) -> None:
            calls.append(name)
            if name == "gc" and calls.count("gc") == 2:
                second_pass.set()
            if fail:
                raise RuntimeError(name)

        return run

    monkeypatch.setattr(purge, "sweep", step("purge"))
    monkeypatch.setattr(account_tasks, "sweep", step("deletions"))
    monkeypatch.setattr(export_tasks, "expire", step("exports"))
    monkeypatch.setattr(rendition_cache, "sweep", step("renditions", fail=True))
    monkeypatch.setattr(audit_tasks, "sweep", step("audit"))
    monkeypatch.setattr(gc, "collect", step("gc"))
    monkeypatch.setattr(random, "uniform", lambda a, b: 0.0)  # no start-up delay
    # The registry the composition root gives every worker.
    ctx: Any = SimpleNamespace(
        settings=Settings(gc_interval=0),
        processing=None,
        notifications=None,
        purging=None,
        deletions=None,
        exports=None,
        sessions=None,
        gc=None,
        store=None,
    )
    registry = composition.job_registry(ctx)
    runner = worker.Worker.__new__(worker.Worker)
    task = asyncio.create_task(runner._periodic(registry.periodic[MAINTENANCE]))
    try:
        async with asyncio.timeout(5):
            await second_pass.wait()
    finally:
        task.cancel()
    assert calls[:12] == ["purge", "deletions", "exports", "renditions", "audit", "gc"] * 2
