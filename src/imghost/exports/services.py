"""Data export rows: starting one (one unfinished per user), reading the latest,
recording the job's outcome, and what has expired.

The ZIP is kept at ``exports/{user}/{export}.zip`` in the blob store. It is the
service's copy of the user's data, not an upload: it counts against no quota.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.accounts import services as accounts
from imghost.db import utcnow
from imghost.errors import AppError
from imghost.exports.models import DataExport
from imghost.ids import new_id
from imghost.jobs import queue

EXPORT_JOB = "data_export"
DOWNLOAD_URL = "/v1/users/me/export/download"


def blob_key(user_id: str, export_id: str) -> str:
    # Under the user's own prefix, which account deletion empties; gc leaves it
    # alone (it collects only image prefixes and upload objects).
    return f"exports/{user_id}/{export_id}.zip"


async def start(session: AsyncSession, user_id: str) -> DataExport:
    """A new export and its job, in the caller's transaction; 409 while one is pending."""
    # The row lock serializes two starts on PostgreSQL; on SQLite the database
    # write lock taken by the INSERT does, and the check below runs again.
    pending = await session.scalar(
        select(DataExport.id).where(DataExport.user_id == user_id, DataExport.status == "pending")
    )
    if pending is not None:
        raise _in_progress()
    export_id = new_id("exp")
    export = DataExport(
        id=export_id,
        user_id=user_id,
        status="pending",
        blob_key=blob_key(user_id, export_id),
        created_at=utcnow(),
    )
    session.add(export)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise _in_progress() from exc
    queue.enqueue(session, EXPORT_JOB, {"exportId": export_id})
    return export


def _in_progress() -> AppError:
    return AppError(
        409,
        "export_in_progress",
        "An export of this account is already being made; wait until it is ready.",
    )


async def latest(session: AsyncSession, user_id: str) -> DataExport:
    export = await session.scalar(
        select(DataExport)
        .where(DataExport.user_id == user_id)
        .order_by(DataExport.created_at.desc(), DataExport.id.desc())
        .limit(1)
    )
    if export is None:
        raise _no_export()
    return export


async def latest_ready(session: AsyncSession, user_id: str, now: dt.datetime) -> DataExport:
    export = await session.scalar(
        select(DataExport)
        .where(
            DataExport.user_id == user_id,
            DataExport.status == "ready",
            DataExport.expires_at > now,
        )
        .order_by(DataExport.created_at.desc(), DataExport.id.desc())
        .limit(1)
    )
    if export is None:
        raise _no_export()
    return export


async def downloadable(session: AsyncSession, export_id: str, now: dt.datetime) -> DataExport:
    """The export a signed link names, while it may still be downloaded: ready,
    unexpired, its account not deleted (a tombstone keeps its rows for a while).
    410 ``export_gone`` otherwise: the link was valid once, the export is over."""
    export = await session.get(DataExport, export_id)
    live = (
        export is not None
        and export.status == "ready"
        and export.expires_at is not None
        and export.expires_at > now
    )
    if export is None or not live or (await accounts.get_user(session, export.user_id)).deleted_at:
        raise AppError(
            410, "export_gone", "This export has expired or was removed; start a new one."
        )
    return export


def _no_export() -> AppError:
    return AppError(404, "no_export", "There is no ready export; start one with POST.")


async def find(session: AsyncSession, export_id: str) -> DataExport | None:
    return await session.get(DataExport, export_id)


async def pending(session: AsyncSession, export_id: str) -> DataExport | None:
    export = await session.get(DataExport, export_id)
    return export if export is not None and export.status == "pending" else None


async def mark_ready(
    session: AsyncSession, export_id: str, size: int, images: int, retention: int
) -> bool:
    """Conditional on the row still pending (a second run of the job, or the
    account deleted meanwhile, changes nothing): False then. Flushed."""
    now = utcnow()
    result = await session.execute(
        update(DataExport)
        .where(DataExport.id == export_id, DataExport.status == "pending")
        .values(
            status="ready",
            size=size,
            images=images,
            ready_at=now,
            expires_at=now + dt.timedelta(seconds=retention),
        )
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


async def mark_failed(session: AsyncSession, export_id: str, error: str) -> None:
    await session.execute(
        update(DataExport)
        .where(DataExport.id == export_id, DataExport.status == "pending")
        .values(status="failed", error=error[:300])
        .execution_options(synchronize_session=False)
    )


async def expired(session: AsyncSession, now: dt.datetime, limit: int) -> list[tuple[str, str]]:
    """(id, blob key) of ready exports past their expiry."""
    rows = await session.execute(
        select(DataExport.id, DataExport.blob_key)
        .where(DataExport.status == "ready", DataExport.expires_at <= now)
        .order_by(DataExport.expires_at)
        .limit(limit)
    )
    return [(r[0], r[1]) for r in rows]


async def mark_expired(session: AsyncSession, export_id: str) -> None:
    await session.execute(
        update(DataExport)
        .where(DataExport.id == export_id, DataExport.status == "ready")
        .values(status="expired")
        .execution_options(synchronize_session=False)
    )
