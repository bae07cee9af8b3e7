"""The maintenance pass, a periodic job kind every IMGHOST_GC_INTERVAL seconds:
the purge sweep (trash windows that ended, purges left half done), account
deletions whose grace period passed (and ones left half done), the removal of
expired data exports, the
rendition cache's sweep (renditions unused for too long, or over the total),
the measuring of image versions stored before they were recorded, the audit
log's retention (closing login floods, scrubbing addresses, deleting old
events), and gc, in that order.

Each worker that runs periodic kinds runs it (`imghost worker`, and the
in-process worker of `imghost serve`); every step is safe in several
processes at once. A step that fails is logged and the others still run: the
next pass retries it. The steps belong to their features; the composition
root binds each to what it needs and hands them over as a :class:`Steps`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from imghost.jobs.registry import Registry

log = logging.getLogger(__name__)

MAINTENANCE = "maintenance"

Step = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class Steps:
    purge_sweep: Step  # lifecycle.purge.sweep
    account_deletion: Step  # accounts.tasks.sweep
    export_expiry: Step  # exports.tasks.expire
    rendition_sweep: Step  # processing.rendition_cache.sweep
    measure_versions: Step  # processing.tasks.measure_versions
    audit_retention: Step  # audit.tasks.sweep
    gc: Step  # maintenance.gc.collect


def register(registry: Registry, steps: Steps, every: float) -> None:
    registry.every(MAINTENANCE, every, functools.partial(run_pass, steps))


async def run_pass(steps: Steps) -> None:
    for name, step in (
        # The purge sweep first: what it removes is then not seen as orphaned.
        ("purge sweep", steps.purge_sweep),
        ("account deletion", steps.account_deletion),
        ("export expiry", steps.export_expiry),
        ("rendition cache sweep", steps.rendition_sweep),
        ("version measuring", steps.measure_versions),
        ("audit retention", steps.audit_retention),
        ("gc run", steps.gc),
    ):
        try:
            await step()
        except Exception:
            log.exception("%s failed; will retry next interval", name)
