"""A process's "told to stop" flag: set at the first SIGTERM (or SIGINT).

While uvicorn drains the requests in flight (``IMGHOST_SHUTDOWN_TIMEOUT``),
whatever else the process runs should know at once, not only at the
lifespan's end, which comes after the requests: the in-process worker stops
claiming jobs and gives the running ones the same grace period, and
``/readyz`` can answer "not ready" so that a load balancer still holding
a kept-alive connection takes the process out of rotation.

``create_app`` puts one on ``app.state.draining``; its lifespan sets it from
the signal through :func:`on_stop_signals`, which calls the server's own
handler (uvicorn's, which starts the drain) after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Draining:
    """Set once, never cleared: a process that began stopping does not serve again."""

    def __init__(self) -> None:
        self.since: float | None = None  # time.monotonic() of the signal
        self._event = asyncio.Event()
        self._callbacks: list[Callable[[], None]] = []

    @property
    def active(self) -> bool:
        return self.since is not None

    def start(self) -> None:
        """Begin draining (on the event loop's thread)."""
        if self.since is not None:
            return
        self.since = time.monotonic()
        self._event.set()
        for callback in self._callbacks:
            callback()

    def on_start(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the loop) when draining begins, at once if it has."""
        self._callbacks.append(callback)
        if self.since is not None:
            callback()

    async def wait(self) -> None:
        await self._event.wait()


@contextlib.contextmanager
def on_stop_signals(draining: Draining) -> Iterator[None]:
    """While inside: SIGTERM and SIGINT start ``draining``, then do what they
    did before (uvicorn's handler: stop accepting, drain, run the lifespan's
    end). Only on the main thread (a server in a test's thread has no signals);
    needs a running loop."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    previous: dict[int, Callable[[int, FrameType | None], object] | int | None] = {}

    def handler(sig: int, frame: FrameType | None) -> None:
        # A Python signal handler runs between two bytecodes of whatever the
        # loop was doing: the flag is set from the loop's next step instead.
        loop.call_soon_threadsafe(draining.start)
        before = previous.get(sig)
        if callable(before):
            before(sig, frame)
        elif before == signal.SIG_DFL:
            signal.signal(sig, signal.SIG_DFL)
            signal.raise_signal(sig)

    for sig in STOP_SIGNALS:
        previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for number, before in previous.items():
            # Only if still ours: the server restores its own when it ends.
            if signal.getsignal(number) is handler:
                signal.signal(number, before if before is not None else signal.SIG_DFL)
