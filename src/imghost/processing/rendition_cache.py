"""The rendition cache: renditions made on request, bounded and evicted.

Anyone allowed to view an image may ask for new transforms of it, so what
they cause to be stored is a cache the service owns, not the owner's
storage: it counts against no quota, and its bytes are bounded

- per image (``IMGHOST_RENDITION_CACHE_PER_IMAGE``) and in total
  (``IMGHOST_RENDITION_CACHE_TOTAL``): storing a new rendition first evicts
  the least recently used ones (of the image, then of all) to make room; one
  larger than a bound is served but not kept. A full cache never fails a view;
- in time (``IMGHOST_RENDITION_CACHE_MAX_AGE``): the worker's periodic sweep
  removes renditions unused for longer, and trims the total again (concurrent
  writers may overshoot it by the renders in flight).

Which renditions: transforms (``…/derived/v{n}/t/…``) and AVIF presets, the
ones never pre-generated. The presets the processing job makes and the
GPS-free copy are the owner's (counted in ``quota_blobs``) and never evicted.

Ledger order, so a crash never leaves bytes nobody accounts for for long: a
row is committed before its blob is written and deleted before its blob is;
a blob whose row is gone (a crash in between) is removed by gc
(:func:`untracked`) once older than its grace period. Last use is recorded
without a write per view: each process notes a rendition at most once per
:func:`touch_every` and writes the notes in one UPDATE a minute later.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.db import utcnow
from imghost.images.models import Image
from imghost.processing.deps import ProcessingDeps
from imghost.processing.models import Rendition
from imghost.settings import Settings

log = logging.getLogger(__name__)

# Seconds between a rendition's first noted use and the write that records it.
FLUSH_DELAY = 60.0
# Rows selected per eviction step, and keys per UPDATE / IN list.
BATCH = 200
# Bounds the per-process memo of recently noted renditions.
MEMO_LIMIT = 50_000


def is_rendition(key: str) -> bool:
    """A blob key of a rendition made on request (kept in step with migration 0012)."""
    _, sep, name = key.partition("/derived/v")
    if not sep:
        return False
    name = name.partition("/")[2]
    return name.startswith("t/") or name.endswith(".avif")


def touch_every(settings: Settings) -> float:
    """How stale a recorded last use may be: an hour, or less for short lifetimes."""
    return min(3600.0, settings.rendition_cache_max_age / 4)


@dataclass
class SweepReport:
    expired: int = 0  # unused for longer than the max age
    trimmed: int = 0  # least recently used, over the total bound
    freed_bytes: int = 0


class RenditionCache:
    """One per process (on the renderer): stores renditions and notes their use."""

    def __init__(self, deps: ProcessingDeps) -> None:
        self.deps = deps
        self._noted: dict[str, float] = {}
        self._pending: set[str] = set()
        self._flusher: asyncio.Task[None] | None = None

    async def store(self, image_id: str, key: str, data: bytes) -> bool:
        """Keep ``data`` at ``key`` if it fits the bounds, evicting older
        renditions to make room. False when not kept (too large, the image is
        gone, or the database or store failed): the caller serves it anyway."""
        deps = self.deps
        settings = deps.settings
        size = len(data)
        if size > settings.rendition_cache_per_image or size > settings.rendition_cache_total:
            return False
        try:
            async with deps.sessions() as session:
                # Summed before the row is written: on SQLite the write takes
                # the database's one write lock, which other requests wait for.
                used = await _used(session, image_id, key)
                if not await _record(session, image_id, key, size):
                    return False
                victims = await _make_room(session, settings, image_id, key, size, used)
                await session.commit()
        except Exception:
            log.warning("rendition %s not cached: its row could not be written", key, exc_info=True)
            return False
        await _delete_blobs(deps, victims)
        try:
            await deps.store.put_bytes(key, data)
        except Exception:
            log.warning("rendition %s not cached: the store refused it", key, exc_info=True)
            await forget(deps, [key])
            return False
        return True

    def used(self, key: str) -> None:
        """Note a view of a stored rendition (no database write here)."""
        now = time.monotonic()
        seen = self._noted.get(key)
        if seen is not None and now - seen < touch_every(self.deps.settings):
            return
        if len(self._noted) >= MEMO_LIMIT:
            self._noted.clear()
        self._noted[key] = now
        self._pending.add(key)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(FLUSH_DELAY)
        await self.flush()

    async def flush(self) -> None:
        """Write the noted uses (best effort: a failure loses them, never a view)."""
        keys, self._pending = sorted(self._pending), set()
        if not keys:
            return
        now = utcnow()
        try:
            async with self.deps.sessions() as session:
                for start in range(0, len(keys), BATCH):
                    await session.execute(
                        update(Rendition)
                        .where(Rendition.blob_key.in_(keys[start : start + BATCH]))
                        .values(last_used_at=now)
                        .execution_options(synchronize_session=False)
                    )
                await session.commit()
        except Exception:
            log.warning("could not record the last use of %d renditions", len(keys), exc_info=True)


async def _record(session: AsyncSession, image_id: str, key: str, size: int) -> bool:
    """Upsert the rendition's row (flushed); False if the image is gone."""
    owner = (
        await session.execute(select(Image.owner_id, Image.org_id).where(Image.id == image_id))
    ).first()
    if owner is None:
        return False
    now = utcnow()
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(Rendition).values(
        blob_key=key,
        image_id=image_id,
        account_id=owner.org_id or owner.owner_id,
        bytes=size,
        created_at=now,
        last_used_at=now,
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["blob_key"], set_={"bytes": size, "last_used_at": now}
        )
    )
    return True


async def _used(session: AsyncSession, image_id: str, key: str) -> tuple[int, int]:
    """Bytes kept for the image and in all, other than at ``key``."""
    others = Rendition.blob_key != key
    return (
        await _sum(session, Rendition.image_id == image_id, others),
        await _sum(session, others),
    )


async def _make_room(
    session: AsyncSession,
    settings: Settings,
    image_id: str,
    key: str,
    size: int,
    used: tuple[int, int],
) -> list[str]:
    """Delete (in this transaction) the least recently used rows until ``size``
    more bytes at ``key`` fit both bounds; returns their keys."""
    image_used, total_used = used
    others = Rendition.blob_key != key
    victims = await _evict(
        session,
        image_used + size - settings.rendition_cache_per_image,
        Rendition.image_id == image_id,
        others,
    )
    total_used -= sum(n for _, n in victims)
    victims += await _evict(session, total_used + size - settings.rendition_cache_total, others)
    return [k for k, _ in victims]


async def _sum(session: AsyncSession, *where: ColumnElement[bool]) -> int:
    return int(
        await session.scalar(select(func.coalesce(func.sum(Rendition.bytes), 0)).where(*where)) or 0
    )


async def _evict(
    session: AsyncSession, excess: int, *where: ColumnElement[bool]
) -> list[tuple[str, int]]:
    """Delete the least recently used rows matching ``where`` until at least
    ``excess`` bytes are freed (or none is left); returns their keys and sizes."""
    victims: list[tuple[str, int]] = []
    while excess > 0:
        rows = (
            await session.execute(
                select(Rendition.blob_key, Rendition.bytes)
                .where(*where)
                .order_by(Rendition.last_used_at, Rendition.blob_key)
                .limit(BATCH)
                # Concurrent writers pick different victims rather than wait.
                .with_for_update(skip_locked=True)
            )
        ).all()
        if not rows:
            break
        chosen: list[tuple[str, int]] = []
        for blob_key, nbytes in rows:
            if excess <= 0:
                break
            chosen.append((blob_key, int(nbytes)))
            excess -= int(nbytes)
        await _delete_rows(session, [k for k, _ in chosen])
        victims += chosen
    return victims


async def _delete_rows(session: AsyncSession, keys: list[str]) -> None:
    for start in range(0, len(keys), BATCH):
        await session.execute(
            delete(Rendition)
            .where(Rendition.blob_key.in_(keys[start : start + BATCH]))
            .execution_options(synchronize_session=False)
        )


async def _delete_blobs(deps: ProcessingDeps, keys: Iterable[str]) -> None:
    for key in keys:
        try:
            await deps.store.delete(key)
        except Exception:  # its row is gone: gc removes it after the grace period
            log.warning("could not delete evicted rendition %s; gc will", key, exc_info=True)


async def forget(deps: ProcessingDeps, keys: list[str]) -> None:
    """Drop the rows of renditions whose blobs were not written (best effort)."""
    try:
        async with deps.sessions() as session:
            await _delete_rows(session, keys)
            await session.commit()
    except Exception:
        log.warning("could not forget renditions %s", keys, exc_info=True)


async def sweep(deps: ProcessingDeps, now: dt.datetime | None = None) -> SweepReport:
    """The worker's periodic pass: evict renditions unused for longer than
    ``IMGHOST_RENDITION_CACHE_MAX_AGE``, then trim the total to its bound."""
    settings = deps.settings
    cutoff = (now or utcnow()) - dt.timedelta(seconds=settings.rendition_cache_max_age)
    report = SweepReport()
    while True:
        async with deps.sessions() as session:
            rows = (
                await session.execute(
                    select(Rendition.blob_key, Rendition.bytes)
                    .where(Rendition.last_used_at < cutoff)
                    .order_by(Rendition.last_used_at, Rendition.blob_key)
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            keys = [k for k, _ in rows]
            await _delete_rows(session, keys)
            await session.commit()
        await _delete_blobs(deps, keys)
        report.expired += len(keys)
        report.freed_bytes += sum(int(n) for _, n in rows)
        if len(rows) < BATCH:
            break
    async with deps.sessions() as session:
        trimmed = await _evict(session, await _sum(session) - settings.rendition_cache_total)
        await session.commit()
    await _delete_blobs(deps, [k for k, _ in trimmed])
    report.trimmed = len(trimmed)
    report.freed_bytes += sum(n for _, n in trimmed)
    if report.expired or report.trimmed:
        log.info("rendition cache: %s", report)
    return report


async def untracked(session: AsyncSession, keys: list[str]) -> list[str]:
    """gc: the rendition keys among ``keys`` (blobs of live images, older than
    the grace period) that have no row: evicted or forgotten ones whose blob
    delete did not happen. Other keys are never returned."""
    candidates = [k for k in keys if is_rendition(k)]
    tracked: set[str] = set()
    for start in range(0, len(candidates), BATCH):
        tracked.update(
            await session.scalars(
                select(Rendition.blob_key).where(
                    Rendition.blob_key.in_(candidates[start : start + BATCH])
                )
            )
        )
    return [k for k in candidates if k not in tracked]
