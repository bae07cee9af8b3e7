"""What a worker runs: a handler per job kind, and the kinds that run on a schedule.

A type only. The composition root fills one (each feature registers its own
kinds, e.g. ``processing.tasks.register``) and hands it to the worker, so
jobs/ stays a queue library that imports no feature.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

#: Runs one job with its payload. Must be idempotent: a job may run again
#: after a crash, so it re-reads what it needs.
Handler = Callable[[dict[str, Any]], Awaitable[None]]
#: Runs once when a job of its kind is dead (out of attempts, or its worker
#: died on the last one), with the last error: e.g. mark the image `failed`.
DeadHandler = Callable[[dict[str, Any], str], Awaitable[None]]
#: One run of a periodic kind; a failure is logged and the next run comes anyway.
PeriodicTask = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Periodic:
    kind: str
    every: float  # seconds between the end of one run and the start of the next
    run: PeriodicTask


@dataclass
class Registry:
    handlers: dict[str, Handler] = field(default_factory=dict)
    dead_handlers: dict[str, DeadHandler] = field(default_factory=dict)
    periodic: dict[str, Periodic] = field(default_factory=dict)

    def add(self, kind: str, handler: Handler, dead: DeadHandler | None = None) -> None:
        """Run ``handler`` for queued jobs of ``kind`` (and ``dead`` when one dies)."""
        self._unused(kind)
        self.handlers[kind] = handler
        if dead is not None:
            self.dead_handlers[kind] = dead

    def every(self, kind: str, seconds: float, run: PeriodicTask) -> None:
        """Run ``run`` in every worker that runs periodic kinds, ``seconds`` apart."""
        self._unused(kind)
        self.periodic[kind] = Periodic(kind, seconds, run)

    def _unused(self, kind: str) -> None:
        # Two features claiming one kind would silently lose one handler.
        if kind in self.handlers or kind in self.periodic:
            raise ValueError(f"job kind {kind!r} is registered twice")
