"""Sticky writers when Redis is unset or unreachable: signed-in reads stay on the primary."""

from __future__ import annotations

import socket

import anyio

from imghost.replicas.sticky import RETRY_INTERVAL, StickyWriters


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_without_redis_everyone_signed_in_is_sticky() -> None:
    async def main() -> None:
        writers = StickyWriters("", 5)
        await writers.mark("u1")
        assert await writers.holds("u2")
        await writers.close()

    anyio.run(main)


def test_a_failed_redis_keeps_everyone_sticky_for_the_window() -> None:
    # A port nobody listens on: every call is refused.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    clock = Clock()

    async def main() -> None:
        writers = StickyWriters(f"redis://127.0.0.1:{port}/0", 5, clock)
        await writers.mark("u1")  # refused: now nobody's marker can be trusted
        assert writers.down_until == clock.now + RETRY_INTERVAL
        clock.now += RETRY_INTERVAL / 2
        await writers.mark("u2")  # not tried during the outage, but extends the window
        assert await writers.holds("u3")
        clock.now += 4.9
        assert await writers.holds("u3")  # within 5 s of u2's unmarked write
        await writers.close()

    anyio.run(main)
