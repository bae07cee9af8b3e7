"""The worker's periodic pass runs the purge sweep, the rendition cache's
sweep and gc, in that order, and goes on when one of them fails."""

from __future__ import annotations

import asyncio
import random
from types import SimpleNamespace
from typing import Any

import pytest

from imghost.jobs import worker
from imghost.jobs.registry import Registry
from imghost.maintenance import tasks

pytestmark = pytest.mark.anyio


async def test_each_pass_sweeps_the_rendition_cache(monkeypatch: Any) -> None:
    calls: list[str] = []
    second_pass = asyncio.Event()

    def step(name: str, fail: bool = False) -> Any:
        async def run(deps: Any) -> None:
            calls.append(name)
            if name == "gc" and calls.count("gc") == 2:
                second_pass.set()
            if fail:
                raise RuntimeError(name)

        return run

    monkeypatch.setattr(tasks, "purge_sweep", step("purge"))
    monkeypatch.setattr(tasks, "rendition_sweep", step("renditions", fail=True))
    monkeypatch.setattr(tasks, "collect", step("gc"))
    monkeypatch.setattr(random, "uniform", lambda a, b: 0.0)  # no start-up delay
    registry = Registry()
    deps: Any = SimpleNamespace(purge=None, renditions=None, gc=None)
    tasks.register(registry, deps, every=0)
    runner = worker.Worker.__new__(worker.Worker)
    task = asyncio.create_task(runner._periodic(registry.periodic[tasks.MAINTENANCE]))
    try:
        await asyncio.wait_for(second_pass.wait(), 5)
    finally:
        task.cancel()
    assert calls[:6] == ["purge", "renditions", "gc"] * 2
