"""Trash rules: soft delete into the trash, list it, restore, begin a purge.

Services take the request's session and never commit. The purge itself spans
several transactions and the blob store, so it lives in ``lifecycle.purge``
and is run by the route after its commit, and by the worker's sweep.

Who may do what: a trashed image exists only for callers at owner level on
it (``access.policy``: the uploader while still in the image's org, org
owners and admins, site admins). Everyone else gets 404, exactly as for an
image that never existed — every read path answers 404 for a deleted image.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.access.decide import image_access
from imghost.access.grants import Caller, image_grants, image_resource
from imghost.access.policy import MANAGING_ROLES, Action, Level, level
from imghost.db import utcnow
from imghost.errors import AppError, NotFound
from imghost.images import services as images
from imghost.images.models import Image
from imghost.jobs.models import Job
from imghost.lifecycle.models import PurgedImage, TrashEntry
from imghost.orgs.models import OrgMember
from imghost.reads import FastReader
from imghost.uploads.services import enqueue_processing

NO_SUCH_IMAGE = "No such image."


def image_prefix(blob_key: str) -> str:
    """``{owner}/{image}/original`` → ``{owner}/{image}/``: every byte of an
    image (original, GPS-free copy, presets, cached transforms) is under it."""
    return blob_key.rsplit("/", 1)[0] + "/"


async def trash_image(
    session: AsyncSession, image: Image, retention: int, now: dt.datetime | None = None
) -> TrashEntry:
    """Soft delete: the image leaves every read path at once; its bytes, tags,
    albums, collaborators and links stay, so a restore brings them back.

    Deleting an image already in the trash changes nothing (its window is not
    extended) and returns its entry. Both writes are conditional, so
    concurrent deletes of one image agree on one time and one entry."""
    now = now or utcnow()
    was_open = images.open_to_all(image)
    await images.soft_delete(session, image, now)
    assert image.deleted_at is not None
    await _insert_entry(session, image.id, image.deleted_at, retention)
    entry = await session.get(TrashEntry, image.id, populate_existing=True)
    if entry is None:  # purged by a request at the same moment
        raise NotFound(NO_SUCH_IMAGE)
    if image.deleted_at == now:  # this call deleted it (not an earlier one)
        await images.announce(session, image, "image.deleted")
        await images.unpublish_if(session, image, was_open)
    return entry


async def _insert_entry(
    session: AsyncSession, image_id: str, deleted_at: dt.datetime, retention: int
) -> None:
    values = {
        "image_id": image_id,
        "deleted_at": deleted_at,
        "purge_at": deleted_at + dt.timedelta(seconds=retention),
    }
    dialect = session.get_bind().dialect.name
    insert = sqlite_insert if dialect == "sqlite" else postgresql_insert
    await session.execute(
        insert(TrashEntry).values(**values).on_conflict_do_nothing(index_elements=["image_id"])
    )


async def is_owner_level(reads: FastReader, caller: Caller, image: Image) -> bool:
    grants = await image_grants(reads, caller, image)
    return level(grants, image_resource(image)) >= Level.OWNER


async def purged_for(session: AsyncSession, caller: Caller, image_id: str) -> PurgedImage | None:
    """The tombstone of a purged image, for its former owner or a site admin."""
    gone = await session.get(PurgedImage, image_id) if len(image_id) <= 64 else None
    if gone is not None and (caller.admin or caller.user_id == gone.owner_id):
        return gone
    return None


async def find_for_owner(
    session: AsyncSession, reads: FastReader, caller: Caller, image_id: str, retention: int
) -> tuple[Image, TrashEntry | None]:
    """The image (live or trashed) for a caller who may delete or restore it.

    A live image is checked by the policy as for any delete (403 or 404); a
    trashed one answers 404 unless the caller is at owner level. A purged one
    answers 410 to its former owner (and site admins), 404 to anyone else."""
    # Locked (PostgreSQL) until the request commits: two deletes or restores
    # of one image at once take turns instead of racing to insert or remove
    # its trash entry.
    image = (
        await session.get(Image, image_id, with_for_update=True) if len(image_id) <= 64 else None
    )
    if image is None:
        if await purged_for(session, caller, image_id) is not None:
            raise AppError(
                410,
                "image_purged",
                "This image was permanently deleted: its files and records are gone "
                "and it cannot be restored.",
            )
        raise NotFound(NO_SUCH_IMAGE)
    if image.deleted_at is None:
        await image_access(reads, caller, image, Action.DELETE)
        return image, None
    if not await is_owner_level(reads, caller, image):
        raise NotFound(NO_SUCH_IMAGE)
    return image, await ensure_entry(session, image, retention)


async def ensure_entry(session: AsyncSession, image: Image, retention: int) -> TrashEntry:
    """The trash entry of a deleted image. Every delete writes one in the same
    transaction; one missing (deleted before 0008 without a backfill, or by
    hand) gets the window counted from ``deleted_at``."""
    entry = await session.get(TrashEntry, image.id)
    if entry is None:
        assert image.deleted_at is not None
        await _insert_entry(session, image.id, image.deleted_at, retention)
        entry = await session.get(TrashEntry, image.id, populate_existing=True)
        if entry is None:  # purged by a request at the same moment
            raise NotFound(NO_SUCH_IMAGE)
    return entry


async def restore(
    session: AsyncSession,
    image: Image,
    entry: TrashEntry,
    *,
    max_attempts: int,
    now: dt.datetime | None = None,
) -> Image:
    """Bring a trashed image back as it was: bytes, tags, albums that still
    exist, collaborators, links (an expired link stays expired; expiry kept
    running while the image was in the trash).

    410 once the window has passed or the purge has begun. The change is
    conditional on the row still being restorable, so a sweep that marks it
    for purge at the same moment wins cleanly (the restore then fails)."""
    now = now or utcnow()
    if entry.purging_since is not None:
        raise AppError(
            410,
            "image_purged",
            "This image is being permanently deleted and can no longer be restored.",
        )
    if entry.purge_at <= now:
        raise AppError(
            410,
            "restore_window_passed",
            f"This image was deleted on {entry.deleted_at:%Y-%m-%d %H:%M} UTC and could be "
            f"restored until {entry.purge_at:%Y-%m-%d %H:%M} UTC; that window has passed "
            "and it is being permanently deleted.",
        )
    taken = await session.execute(
        delete(TrashEntry)
        .where(
            TrashEntry.image_id == image.id,
            TrashEntry.purging_since.is_(None),
            TrashEntry.purge_at > now,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(taken, "rowcount", 0) != 1:
        # Read, not refresh: a purge may have removed the row meanwhile.
        still = await session.execute(select(Image.deleted_at).where(Image.id == image.id))
        found = still.first()
        if found is not None and found.deleted_at is None:
            await session.refresh(image)
            return image  # restored by a request at the same moment
        raise AppError(
            410,
            "image_purged",
            "This image is being permanently deleted and can no longer be restored.",
        )
    session.expunge(entry)
    image.deleted_at = None
    image.updated_at = now
    await session.flush()
    await images.announce(session, image, "image.restored")
    if image.status == "processing" and not await _processing_pending(session, image.id):
        # Its processing job skipped it while it was deleted: queue it again.
        enqueue_processing(session, image, max_attempts)
    return image


async def _processing_pending(session: AsyncSession, image_id: str) -> bool:
    found = await session.scalar(
        select(Job.id).where(
            Job.image_id == image_id,
            Job.kind == "process_image",
            Job.status.in_(("queued", "running")),
        )
    )
    return found is not None


async def begin_purge(session: AsyncSession, image_id: str, now: dt.datetime) -> None:
    """Mark the entry: from this commit on the purge only moves forward.
    Conditional: an entry already marked (or gone with its purge) is left."""
    await session.execute(
        update(TrashEntry)
        .where(TrashEntry.image_id == image_id, TrashEntry.purging_since.is_(None))
        .values(purging_since=now)
        .execution_options(synchronize_session=False)
    )


async def being_purged(session: AsyncSession, image_id: str) -> bool:
    """Whether the image's purge has begun (its bytes may already be gone
    while its rows are still there: a scrub must not call that a loss)."""
    found = await session.scalar(
        select(TrashEntry.image_id).where(
            TrashEntry.image_id == image_id, TrashEntry.purging_since.is_not(None)
        )
    )
    return found is not None


async def mark_due(session: AsyncSession, now: dt.datetime) -> int:
    """Begin the purge of every image whose window has passed (one statement)."""
    result = await session.execute(
        update(TrashEntry)
        .where(TrashEntry.purge_at <= now, TrashEntry.purging_since.is_(None))
        .values(purging_since=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def owner_level_images(caller: Caller) -> ColumnElement[bool]:
    """Images the caller holds owner level on, as ``access.policy.level`` says:
    their own (an org image only while they are a member) and the images of
    orgs they own or administer."""
    me = caller.user_id
    my_orgs = select(OrgMember.org_id).where(OrgMember.user_id == me)
    managing = my_orgs.where(OrgMember.role.in_(MANAGING_ROLES))
    return or_(
        and_(Image.owner_id == me, or_(Image.org_id.is_(None), Image.org_id.in_(my_orgs))),
        Image.org_id.in_(managing),
    )


async def list_trash(
    session: AsyncSession, caller: Caller, page: int, limit: int
) -> tuple[list[tuple[Image, TrashEntry]], int]:
    """The caller's trash, most recently deleted first (a site admin sees
    their own, like anyone: other people's trash is reached by id)."""
    base = (
        select(Image, TrashEntry)
        .join(TrashEntry, TrashEntry.image_id == Image.id)
        .where(Image.deleted_at.is_not(None), owner_level_images(caller))
    )
    total = await session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = await session.execute(
        base.order_by(TrashEntry.deleted_at.desc(), Image.id.desc())
        .offset((page - 1) * limit)
        .limit(limit)
    )
    return [(image, entry) for image, entry in rows.all()], total


async def begin_owner_purge(
    session: AsyncSession, owner_id: str, retention: int, now: dt.datetime, limit: int = 500
) -> list[str]:
    """Account deletion: move up to ``limit`` images ``owner_id`` owns outside any
    org to the trash and begin their purge, the same purge as a permanent delete.
    Returns the ids of that owner's images whose purge has begun and not ended
    (those marked now and any marked before). Flushed; org images are left alone:
    they stay with the org. Images under a legal hold are marked too but not
    returned: their purge waits for the hold to be lifted, and the purge sweep
    finishes it then; the deletion of the account goes on without them."""
    personal = and_(Image.owner_id == owner_id, Image.org_id.is_(None))
    live = await session.scalars(
        select(Image)
        .outerjoin(TrashEntry, TrashEntry.image_id == Image.id)
        .where(personal, or_(TrashEntry.image_id.is_(None), TrashEntry.purging_since.is_(None)))
        .limit(limit)
    )
    for image in live.all():
        try:
            if image.deleted_at is None:
                await trash_image(session, image, retention, now)
            else:
                await ensure_entry(session, image, retention)
        except NotFound:
            continue  # purged meanwhile
        await begin_purge(session, image.id, now)
    marked = await session.scalars(
        select(TrashEntry.image_id)
        .join(Image, Image.id == TrashEntry.image_id)
        .where(
            personal,
            TrashEntry.purging_since.is_not(None),
            or_(Image.withheld.is_(None), Image.withheld != images.TAKEDOWN),
        )
        .order_by(TrashEntry.image_id)
    )
    return list(marked)
