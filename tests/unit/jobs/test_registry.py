"""The registry the composition root fills: every kind once, each feature's kinds there."""

from __future__ import annotations

from pathlib import Path

import pytest

from imghost import composition
from imghost.cdn.services import JOB_KIND as CDN_PURGE
from imghost.context import AppContext
from imghost.exports.services import EXPORT_JOB
from imghost.jobs.registry import Registry
from imghost.maintenance.tasks import MAINTENANCE
from imghost.notifications.services import (
    ACCOUNT_EMAIL_JOB,
    ADDRESS_EMAIL_JOB,
    EMAIL_JOB,
    INVITATION_EMAIL_JOB,
    WEBHOOK_JOB,
)
from imghost.processing.tasks import CLAMD_CHECK, PROCESS_IMAGE, RESCAN_IMAGE, VERIFY_IMAGE
from imghost.settings import Settings

pytestmark = pytest.mark.anyio


async def _nothing(payload: dict[str, object]) -> None:
    return None


async def _tick() -> None:
    return None


def test_a_kind_is_registered_once() -> None:
    registry = Registry()
    registry.add("a", _nothing)
    with pytest.raises(ValueError, match="'a'"):
        registry.add("a", _nothing)
    with pytest.raises(ValueError, match="'a'"):
        registry.every("a", 60, _tick)


async def test_the_composition_root_registers_every_feature(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'r.db'}",
        storage_url=f"file://{tmp_path / 'blobs'}",
        gc_interval=123,
    )
    ctx = AppContext.build(settings)
    try:
        registry = composition.job_registry(ctx)
    finally:
        await ctx.close()
    assert set(registry.handlers) == {
        PROCESS_IMAGE,
        RESCAN_IMAGE,
        VERIFY_IMAGE,
        EMAIL_JOB,
        INVITATION_EMAIL_JOB,
        ACCOUNT_EMAIL_JOB,
        ADDRESS_EMAIL_JOB,
        WEBHOOK_JOB,
        EXPORT_JOB,
        CDN_PURGE,
    }
    assert set(registry.dead_handlers) == {
        PROCESS_IMAGE,
        EMAIL_JOB,
        WEBHOOK_JOB,
        EXPORT_JOB,
        CDN_PURGE,
    }
    assert list(registry.periodic) == [MAINTENANCE]
    assert registry.periodic[MAINTENANCE].every == 123


async def test_with_clamd_the_workers_check_it(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'r.db'}",
        storage_url=f"file://{tmp_path / 'blobs'}",
        clamd_address="tcp://127.0.0.1:3310",
    )
    ctx = AppContext.build(settings)
    try:
        registry = composition.job_registry(ctx)
    finally:
        await ctx.close()
    assert list(registry.periodic) == [CLAMD_CHECK, MAINTENANCE]
    assert registry.periodic[CLAMD_CHECK].every == 3600
