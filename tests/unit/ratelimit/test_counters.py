"""Fixed-window counters in memory, and the fallback when Redis cannot be reached."""

from __future__ import annotations

import logging
import time

import anyio
import limits
import pytest

from imghost.ratelimit import counters
from imghost.ratelimit.counters import Counters, Window
from imghost.testing.servers import free_port

ITEM = limits.parse("3 per 1 minute")


def test_memory_windows() -> None:
    async def main() -> None:
        c = Counters()
        assert not c.shared
        empty = await c.peek(ITEM, "user:a")
        assert empty.count == 0
        start = time.time()
        first = await c.incr(ITEM, "user:a", 1)
        assert first.count == 1
        assert start + 59 <= first.reset_at <= time.time() + 60
        second = await c.incr(ITEM, "user:a", 2)
        assert (second.count, second.reset_at) == (3, first.reset_at)  # same window
        assert second.remaining(ITEM) == 0
        assert (await c.incr(ITEM, "user:a", 1)).remaining(ITEM) == 0
        assert (await c.peek(ITEM, "user:a")).count == 4
        assert (await c.incr(ITEM, "user:b", 1)).count == 1  # another identity
        await c.close()

    anyio.run(main)


def test_window_reset_seconds() -> None:
    w = Window(5, 1000.2)
    assert w.reset_in(now=990.0) == 11
    assert w.reset_in(now=1001.0) == 1  # never 0 for a full window


def test_unreachable_redis_falls_back_to_memory_and_logs_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(counters, "RETRY_INTERVAL", 0.05)
    port = free_port()  # nothing listens there

    async def main() -> None:
        c = Counters(f"redis://127.0.0.1:{port}/0")
        for n in range(1, 6):
            assert (await c.incr(ITEM, "user:a", 1)).count == n
            await anyio.sleep(0.03)  # past the retry interval now and then
        assert c.in_outage and not c.shared
        await c.close()

    with caplog.at_level(logging.WARNING, logger="imghost.ratelimit.counters"):
        anyio.run(main)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1, messages
    assert "unreachable" in messages[0]
