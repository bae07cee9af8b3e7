"""The figures a scrape reads at scrape time rather than from the processes' files.

The job queue (depth and oldest due job by kind, dead jobs) lives in the
database, not in any process: it is read when ``/metrics`` is scraped, at most
once per :data:`QUEUE_CACHE_SECONDS` per API process and within
IMGHOST_READY_TIMEOUT, so a scraper (or several) never costs more than one
grouped count every few seconds. The readiness checks (``ops.readiness``,
cached for a second) and the free space of the local volumes the process
writes to are read the same way.

``refresh`` does the I/O before the text is made; ``collect`` (called by
prometheus-client, synchronously) only turns what was read into families.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imghost.db import utcnow
from imghost.jobs import queue
from imghost.ops.readiness import Check, Readiness

log = logging.getLogger(__name__)

QUEUE_CACHE_SECONDS = 5.0

#: Every series this module exports: the alert rules may name them
#: (tests/unit/ops checks the rules against these and ``metrics.registered_names``).
SCRAPE_METRICS = frozenset(
    {
        "imghost_jobs",
        "imghost_job_oldest_due_seconds",
        "imghost_job_stats_up",
        "imghost_ready",
        "imghost_ready_check",
        "imghost_disk_free_bytes",
        "imghost_disk_size_bytes",
    }
)


@dataclass(frozen=True)
class QueueFigures:
    jobs: dict[tuple[str, str], int]  # (kind, status) -> jobs
    oldest_due: dict[str, float]  # kind -> seconds the oldest due job has waited


async def read_queue(session: AsyncSession) -> QueueFigures:
    now = utcnow()
    counts = await queue.depth(session)
    oldest = await queue.oldest_due_by_kind(session, now)
    return QueueFigures(
        jobs={(kind, status): n for kind, by in counts.items() for status, n in by.items()},
        oldest_due={
            kind: max((now - due) / dt.timedelta(seconds=1), 0.0) for kind, due in oldest.items()
        },
    )


class ScrapeFigures(Collector):
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        readiness: Readiness,
        volumes: dict[str, str],
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions = sessions
        self.readiness = readiness
        # name -> directory, e.g. {"staging": ..., "blobs": ...}: the label is
        # the name, never the path.
        self.volumes = volumes
        self.timeout = timeout
        self.clock = clock
        self._queue: QueueFigures | None = None
        self._queue_ok = False
        self._queue_at = -QUEUE_CACHE_SECONDS
        self._ready: dict[str, Check] = {}
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        self._ready = await self.readiness.result()
        async with self._lock:
            if self.clock() - self._queue_at < QUEUE_CACHE_SECONDS:
                return
            try:
                async with asyncio.timeout(self.timeout), self.sessions() as session:
                    self._queue = await read_queue(session)
                self._queue_ok = True
            except Exception:
                # The last figures are not shown as current: the series go,
                # and imghost_job_stats_up says why.
                log.warning("metrics: the job queue could not be read", exc_info=True)
                self._queue, self._queue_ok = None, False
            self._queue_at = self.clock()

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "imghost_job_stats_up", "1 when the last read of the job queue's figures worked"
        )
        up.add_metric([], 1.0 if self._queue_ok else 0.0)
        yield up
        if self._queue is not None:
            jobs = GaugeMetricFamily(
                "imghost_jobs",
                "Jobs by kind and status (queued, running, dead)",
                labels=["kind", "status"],
            )
            for (kind, status), n in sorted(self._queue.jobs.items()):
                jobs.add_metric([kind, status], n)
            yield jobs
            oldest = GaugeMetricFamily(
                "imghost_job_oldest_due_seconds",
                "Seconds the oldest queued and due job of each kind has waited for a worker",
                labels=["kind"],
            )
            for kind, seconds in sorted(self._queue.oldest_due.items()):
                oldest.add_metric([kind], seconds)
            yield oldest
        yield from self._readiness()
        yield from self._disks()

    def _readiness(self) -> Iterator[Metric]:
        ready = GaugeMetricFamily("imghost_ready", "1 when every readiness check passes")
        ready.add_metric([], 1.0 if self._ready and all(c.ok for c in self._ready.values()) else 0)
        yield ready
        checks = GaugeMetricFamily(
            "imghost_ready_check", "1 when this readiness check passes", labels=["check"]
        )
        for name, check in sorted(self._ready.items()):
            checks.add_metric([name], 1.0 if check.ok else 0.0)
        yield checks

    def _disks(self) -> Iterator[Metric]:
        free = GaugeMetricFamily(
            "imghost_disk_free_bytes",
            "Bytes free to unprivileged writers on the local volumes this process writes "
            "to (staging: upload spools; blobs: the local blob store)",
            labels=["volume"],
        )
        size = GaugeMetricFamily(
            "imghost_disk_size_bytes", "Size of those volumes, bytes", labels=["volume"]
        )
        for name, path in sorted(self.volumes.items()):
            try:
                stats = os.statvfs(path)
            except OSError:
                continue
            free.add_metric([name], stats.f_bavail * stats.f_frsize)
            size.add_metric([name], stats.f_blocks * stats.f_frsize)
        yield free
        yield size
