"""flush and Flusher against a stand-in session: what happens to counts on failure."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from imghost.analytics import flush as flushing
from imghost.analytics.counter import Batch, ViewCounter

pytestmark = pytest.mark.anyio


class FakeSession:
    def __init__(self) -> None:
        self.committed = False

    async def commit(self) -> None:
        self.committed = True


def fake_ctx(interval: float = 3600) -> Any:
    @contextlib.asynccontextmanager
    async def sessions() -> AsyncIterator[FakeSession]:
        yield FakeSession()

    return SimpleNamespace(
        views=ViewCounter(),
        sessions=sessions,
        settings=SimpleNamespace(analytics_flush_interval=interval),
    )


class Writer:
    """Stands in for write_counts: records batches, fails the next ``fail`` calls."""

    def __init__(self) -> None:
        self.batches: list[Batch] = []
        self.fail = 0

    async def __call__(self, session: FakeSession, batch: Batch, budgets: object) -> None:
        if self.fail:
            self.fail -= 1
            raise RuntimeError("database unavailable")
        self.batches.append(batch)


@pytest.fixture
def writer(monkeypatch: pytest.MonkeyPatch) -> Writer:
    fake = Writer()
    monkeypatch.setattr(flushing, "write_counts", fake)
    return fake


async def test_a_failed_flush_keeps_the_counts_for_the_next(writer: Writer) -> None:
    ctx = fake_ctx()
    ctx.views.record("img_a", "u_1", "view", 10)
    writer.fail = 1
    assert await flushing.flush(ctx.views, ctx.sessions) is False
    assert writer.batches == [] and ctx.views.pending() == 1
    ctx.views.record("img_a", "u_1", "download", 5)
    assert await flushing.flush(ctx.views, ctx.sessions) is True
    [batch] = writer.batches
    counts = next(iter(batch.images.values()))
    assert (counts.views, counts.downloads, counts.bandwidth_bytes) == (1, 1, 15)
    assert ctx.views.pending() == 0


async def test_nothing_counted_writes_nothing(writer: Writer) -> None:
    ctx = fake_ctx()
    assert await flushing.flush(ctx.views, ctx.sessions) is True
    assert writer.batches == []


async def test_cancelled_mid_write_gives_the_counts_back(monkeypatch: pytest.MonkeyPatch) -> None:
    started = asyncio.Event()

    async def slow_write(session: FakeSession, batch: Batch, budgets: object) -> None:
        started.set()
        await asyncio.sleep(3600)

    monkeypatch.setattr(flushing, "write_counts", slow_write)
    ctx = fake_ctx()
    ctx.views.record("img_a", "u_1", "view", 10)
    task = asyncio.create_task(flushing.flush(ctx.views, ctx.sessions))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ctx.views.pending() == 1


async def test_flusher_writes_periodically_and_once_more_on_stop(writer: Writer) -> None:
    ctx = fake_ctx(interval=0.05)
    flusher = flushing.Flusher(ctx.views, ctx.sessions, ctx.settings.analytics_flush_interval)
    flusher.start()
    ctx.views.record("img_a", "u_1", "view", 1)
    for _ in range(100):
        if writer.batches:
            break
        await asyncio.sleep(0.01)
    assert len(writer.batches) == 1
    ctx.views.record("img_b", "u_1", "view", 1)
    await flusher.stop()
    assert len(writer.batches) == 2
    assert [image_id for image_id, _ in writer.batches[1].images] == ["img_b"]
    assert ctx.views.pending() == 0
