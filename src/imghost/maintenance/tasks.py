"""The maintenance pass, a periodic job kind every IMGHOST_GC_INTERVAL seconds:
the purge sweep (trash windows that ended, purges left half done), the
rendition cache's sweep (renditions unused for too long, or over the total)
and gc, in that order.

Each worker that runs periodic kinds runs it (`imghost worker`, and the
in-process worker of `imghost serve`); every step is safe in several
processes at once. A step that fails is logged and the others still run: the
next pass retries it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from imghost.jobs.registry import Registry
from imghost.lifecycle.purge import PurgeDeps
from imghost.lifecycle.purge import sweep as purge_sweep
from imghost.maintenance.gc import GcDeps, collect
from imghost.processing.deps import ProcessingDeps
from imghost.processing.rendition_cache import sweep as rendition_sweep

log = logging.getLogger(__name__)

MAINTENANCE = "maintenance"


@dataclass(frozen=True)
class MaintenanceDeps:
    purge: PurgeDeps
    renditions: ProcessingDeps
    gc: GcDeps


def register(registry: Registry, deps: MaintenanceDeps, every: float) -> None:
    registry.every(MAINTENANCE, every, functools.partial(run_pass, deps))


async def run_pass(deps: MaintenanceDeps) -> None:
    steps: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        # The purge sweep first: what it removes is then not seen as orphaned.
        ("purge sweep", lambda: purge_sweep(deps.purge)),
        ("rendition cache sweep", lambda: rendition_sweep(deps.renditions)),
        ("gc run", lambda: collect(deps.gc)),
    ]
    for name, step in steps:
        try:
            await step()
        except Exception:
            log.exception("%s failed; will retry next interval", name)
