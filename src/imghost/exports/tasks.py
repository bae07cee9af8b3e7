"""The export job and the expiry step.

The job writes one ZIP into a spool file in the store's staging directory: each
original streamed from the store into its entry (256 KiB at a time), then
``metadata.json`` written row page by row page; then the file goes to the store
(S3: a multipart upload in 5 MiB parts). Memory stays flat whatever the size of
the account: nothing holds more than one chunk of bytes or one page of rows.
The originals are stored, not deflated: they are compressed images already.

A job that runs again (crash after its commit, a retry) starts from scratch and
overwrites the same key; the row moves to ``ready`` once, conditionally.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import tempfile
import zipfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import anyio
from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imghost.albums.models import Album, AlbumCollaborator, AlbumImage
from imghost.db import utcnow
from imghost.exports import services
from imghost.exports.links import ExportLinks
from imghost.images import services as images
from imghost.images.models import Image, ImageTag
from imghost.jobs.registry import Registry
from imghost.notifications import services as notifications
from imghost.schemas import format_timestamp
from imghost.sharing.models import ImageCollaborator, ShareLink
from imghost.storage import BlobStore

log = logging.getLogger(__name__)

PAGE = 200
# Exports removed per maintenance pass; the rest wait for the next one.
EXPIRE_BATCH = 200


@dataclass(frozen=True)
class ExportDeps:
    sessions: async_sessionmaker[AsyncSession]
    store: BlobStore
    retention: int  # IMGHOST_EXPORT_RETENTION
    links: ExportLinks  # the signed download links (routes use them too)


def register(registry: Registry, deps: ExportDeps) -> None:
    async def handle(payload: dict[str, Any]) -> None:
        await build(deps, str(payload["exportId"]))

    async def dead(payload: dict[str, Any], error: str) -> None:
        async with deps.sessions() as session:
            await services.mark_failed(session, str(payload["exportId"]), error)
            await session.commit()

    registry.add(services.EXPORT_JOB, handle, dead)


async def build(deps: ExportDeps, export_id: str) -> None:
    async with deps.sessions() as session:
        export = await services.pending(session, export_id)
        if export is None:
            return  # done, failed or gone (the account was deleted)
        user_id, key = export.user_id, export.blob_key
    fd, name = _spool(deps.store.staging_dir, export_id)
    path = Path(name)
    try:
        with os.fdopen(fd, "w+b") as raw:
            with zipfile.ZipFile(raw, "w", zipfile.ZIP_STORED) as zf:
                images = await _write_originals(deps, zf, user_id)
                with zf.open("metadata.json", "w", force_zip64=True) as entry:
                    await _write_metadata(deps.sessions, entry, user_id)
            size = raw.tell()  # the end of the central directory: the ZIP's size
        await deps.store.put_file(key, path, "application/zip")
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
    async with deps.sessions() as session:
        if not await services.mark_ready(session, export_id, size, images, deps.retention):
            await session.rollback()
            if await services.find(session, export_id) is None:
                await deps.store.delete(key)  # the account went meanwhile: no stray ZIP
            return
        ready = await services.find(session, export_id)
        assert ready is not None and ready.expires_at is not None
        url, until = deps.links.mint(export_id, ready.expires_at, utcnow())
        await notifications.notify(
            session,
            user_id=user_id,
            kind="export.ready",
            title="Your data export is ready",
            body=(
                f"Download it from {url} (this link works until "
                f"{until:%Y-%m-%d %H:%M} UTC), or signed in from {services.DOWNLOAD_URL}, "
                f"before the export expires at {ready.expires_at:%Y-%m-%d %H:%M} UTC."
            ),
            data={"exportId": export_id, "downloadUrl": url, "downloadPath": services.DOWNLOAD_URL},
        )
        await session.commit()
    log.info("export %s ready: %d originals, %d bytes", export_id, images, size)


def _spool(staging: Path, export_id: str) -> tuple[int, str]:
    staging.mkdir(parents=True, exist_ok=True)
    # "job-": gc's stale-spool collection removes what a crashed job left.
    return tempfile.mkstemp(prefix=f"job-{export_id}-", suffix=".zip", dir=staging)


async def _write_originals(deps: ExportDeps, zf: zipfile.ZipFile, user_id: str) -> int:
    count = 0
    async for page in _pages(
        deps.sessions,
        select(Image).where(
            Image.owner_id == user_id,
            Image.deleted_at.is_(None),
            # A taken-down original is 451 to its owner too: its row is in
            # metadata.json (with `withheld`), its bytes are not in the ZIP.
            or_(Image.withheld.is_(None), Image.withheld != images.TAKEDOWN),
        ),
        Image.id,
    ):
        for image in page:
            with zf.open(_entry_name(image), "w", force_zip64=True) as entry:
                async for chunk in await deps.store.get(image.blob_key):
                    await anyio.to_thread.run_sync(entry.write, chunk)
            count += 1
    return count


def _entry_name(image: Image) -> str:
    return f"originals/{image.id}.{image.format}"


async def _pages(
    sessions: async_sessionmaker[AsyncSession], stmt: Select[Any], key: Any
) -> AsyncIterator[Sequence[Any]]:
    """Rows of ``stmt`` in pages of PAGE by ``key`` (keyset), one short session each."""
    after: Any = None
    while True:
        async with sessions() as session:
            page_stmt = stmt.order_by(key).limit(PAGE)
            if after is not None:
                page_stmt = page_stmt.where(key > after)
            rows = list((await session.scalars(page_stmt)).all())
        if not rows:
            return
        yield rows
        after = getattr(rows[-1], key.key)


def _row(obj: Any, **extra: Any) -> dict[str, Any]:
    # Every column but secrets (a link's password hash) under its column name.
    out = {c.key: _plain(getattr(obj, c.key)) for c in obj.__table__.columns if "hash" not in c.key}
    out.update(extra)
    return out


def _plain(value: Any) -> Any:
    # The API's one timestamp format, in the export too.
    return format_timestamp(value) if isinstance(value, dt.datetime) else value


class _JsonWriter:
    """Writes one JSON document in pieces, so no list of rows is held whole."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.first = True

    async def write(self, text: str) -> None:
        await anyio.to_thread.run_sync(self.out.write, text.encode())

    async def array(self, name: str, items: AsyncIterator[dict[str, Any]]) -> None:
        await self.write(f",\n{json.dumps(name)}: [")
        first = True
        async for item in items:
            await self.write(("" if first else ",") + "\n  " + json.dumps(item, default=str))
            first = False
        await self.write("\n]")


async def _write_metadata(
    sessions: async_sessionmaker[AsyncSession], out: IO[bytes], user_id: str
) -> None:
    writer = _JsonWriter(out)
    head = {"format": "imghost-export/1", "userId": user_id, "exportedAt": _plain(utcnow())}
    await writer.write(json.dumps(head)[:-1])
    await writer.array("images", _images(sessions, user_id))
    await writer.array("albums", _albums(sessions, user_id))
    await writer.array("shares", _shares(sessions, user_id))
    await writer.array("links", _links(sessions, user_id))
    await writer.write("\n}\n")


async def _images(
    sessions: async_sessionmaker[AsyncSession], user_id: str
) -> AsyncIterator[dict[str, Any]]:
    stmt = select(Image).where(Image.owner_id == user_id, Image.deleted_at.is_(None))
    async for page in _pages(sessions, stmt, Image.id):
        ids = [image.id for image in page]
        async with sessions() as session:
            tags: dict[str, list[str]] = {}
            for row in await session.execute(
                select(ImageTag.image_id, ImageTag.tag)
                .where(ImageTag.image_id.in_(ids))
                .order_by(ImageTag.image_id, ImageTag.position)
            ):
                tags.setdefault(row[0], []).append(row[1])
        for image in page:
            yield _row(image, tags=tags.get(image.id, []), file=_entry_name(image))


async def _albums(
    sessions: async_sessionmaker[AsyncSession], user_id: str
) -> AsyncIterator[dict[str, Any]]:
    async for page in _pages(sessions, select(Album).where(Album.owner_id == user_id), Album.id):
        ids = [album.id for album in page]
        async with sessions() as session:
            members: dict[str, list[str]] = {}
            for row in await session.execute(
                select(AlbumImage.album_id, AlbumImage.image_id)
                .where(AlbumImage.album_id.in_(ids))
                .order_by(AlbumImage.album_id, AlbumImage.position)
            ):
                members.setdefault(row[0], []).append(row[1])
            people: dict[str, list[dict[str, Any]]] = {}
            for collaborator in await session.scalars(
                select(AlbumCollaborator).where(AlbumCollaborator.album_id.in_(ids))
            ):
                people.setdefault(collaborator.album_id, []).append(_row(collaborator))
        for album in page:
            yield _row(
                album, images=members.get(album.id, []), collaborators=people.get(album.id, [])
            )


async def _shares(
    sessions: async_sessionmaker[AsyncSession], user_id: str
) -> AsyncIterator[dict[str, Any]]:
    """The people the user's images are shared with."""
    async for page in _pages(sessions, select(Image).where(Image.owner_id == user_id), Image.id):
        async with sessions() as session:
            rows = list(
                await session.scalars(
                    select(ImageCollaborator)
                    .where(ImageCollaborator.image_id.in_([image.id for image in page]))
                    .order_by(ImageCollaborator.image_id, ImageCollaborator.user_id)
                )
            )
        for collaborator in rows:
            yield _row(collaborator)


async def _links(
    sessions: async_sessionmaker[AsyncSession], user_id: str
) -> AsyncIterator[dict[str, Any]]:
    stmt = select(ShareLink).where(ShareLink.created_by == user_id)
    async for page in _pages(sessions, stmt, ShareLink.id):
        for link in page:
            yield _row(link, has_password=link.password_hash is not None)


async def expire(deps: ExportDeps, now: dt.datetime | None = None) -> int:
    """The maintenance step: remove the ZIPs of exports past their expiry. The
    blob goes first, then the row says so; a crash between repeats the delete."""
    now = now or utcnow()
    async with deps.sessions() as session:
        due = await services.expired(session, now, EXPIRE_BATCH)
    for export_id, key in due:
        await deps.store.delete(key)
        async with deps.sessions() as session:
            await services.mark_expired(session, export_id)
            await session.commit()
    return len(due)
