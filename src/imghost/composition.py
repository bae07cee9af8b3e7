"""The composition root's wiring of background work: which feature runs
which job kind, and the worker that runs them.

Used by ``create_app`` (the in-process worker), ``imghost worker`` and tests;
jobs/ itself knows no feature.
"""

from __future__ import annotations

import functools

from imghost.accounts import tasks as account_tasks
from imghost.audit import tasks as audit_tasks
from imghost.cdn import tasks as cdn_tasks
from imghost.cdn.config import purge_config
from imghost.context import AppContext
from imghost.exports import tasks as export_tasks
from imghost.imaging.clamd import ClamdScanner
from imghost.jobs.registry import Registry
from imghost.jobs.worker import Worker, default_concurrency
from imghost.lifecycle import purge
from imghost.maintenance import gc
from imghost.maintenance import keys as blob_keys
from imghost.maintenance import tasks as maintenance_tasks
from imghost.notifications import tasks as notification_tasks
from imghost.processing import rendition_cache
from imghost.processing import tasks as processing_tasks
from imghost.settings import Settings
from imghost.storage.encrypted import EncryptedBlobStore


def job_registry(ctx: AppContext) -> Registry:
    registry = Registry()
    processing_tasks.register(registry, ctx.processing)
    if ctx.settings.clamd_address:
        scanner = ctx.processing.malware
        assert isinstance(scanner, ClamdScanner)  # context.malware_scanner made it
        processing_tasks.register_clamd_check(registry, scanner, ctx.settings.max_file_size)
    notification_tasks.register(registry, ctx.notifications)
    export_tasks.register(registry, ctx.exports)
    cdn_tasks.register(registry, purge_config(ctx.settings))
    maintenance_tasks.register(registry, maintenance_steps(ctx), every=ctx.settings.gc_interval)
    if isinstance(ctx.store, EncryptedBlobStore):
        blob_keys.register(registry, ctx.store)
    return registry


def maintenance_steps(ctx: AppContext) -> maintenance_tasks.Steps:
    return maintenance_tasks.Steps(
        purge_sweep=functools.partial(purge.sweep, ctx.purging),
        account_deletion=functools.partial(account_tasks.sweep, ctx.deletions),
        export_expiry=functools.partial(export_tasks.expire, ctx.exports),
        rendition_sweep=functools.partial(rendition_cache.sweep, ctx.processing),
        measure_versions=functools.partial(processing_tasks.measure_versions, ctx.processing),
        audit_retention=functools.partial(
            audit_tasks.sweep, ctx.sessions, audit_retention(ctx.settings)
        ),
        gc=functools.partial(gc.collect, ctx.gc),
    )


def audit_retention(settings: Settings) -> audit_tasks.Retention:
    return audit_tasks.Retention(
        days=settings.audit_retention_days, pii_days=settings.audit_pii_retention_days
    )


def worker(ctx: AppContext, *, concurrency: int | None = None, periodic: bool = True) -> Worker:
    """A worker for every registered kind; ``periodic=False``: queued jobs only."""
    settings = ctx.settings
    return Worker(
        ctx.sessions,
        job_registry(ctx),
        lease=settings.job_lease,
        timeout=settings.job_timeout,
        concurrency=concurrency or default_concurrency(settings.worker_concurrency),
        periodic=periodic,
    )
