"""Image records: create, read, change, soft delete, list."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from imghost.db import utcnow
from imghost.errors import AppError, NotFound
from imghost.ids import new_id
from imghost.images.fields import NewImageFields, normalize_tags
from imghost.images.models import Image, ImageTag
from imghost.images.schemas import ImagePatch
from imghost.imaging.probe import ProbeResult
from imghost.notifications import services as notifications
from imghost.reads import FastReader


def original_key(owner_id: str, image_id: str) -> str:
    return f"{owner_id}/{image_id}/original"


def build_image(
    owner_id: str,
    fields: NewImageFields,
    probed: ProbeResult,
    size: int,
    sha256: str,
    filename: str | None,
    image_id: str | None = None,
) -> Image:
    """A new image row (not yet added); its blob key is derived from its id
    (reserved in advance when the bytes are written before validation)."""
    image_id = image_id or new_id("img")
    now = utcnow()
    image = Image(
        id=image_id,
        owner_id=owner_id,
        org_id=fields.org_id,
        title=fields.title,
        description=fields.description,
        visibility=fields.visibility,
        status="processing",
        keep_gps=fields.keep_gps,
        format=probed.format.name,
        mime_type=probed.format.mime,
        size=size,
        width=probed.width,
        height=probed.height,
        frames=probed.frames,
        sha256=sha256,
        blob_key=original_key(owner_id, image_id),
        filename=filename,
        created_at=now,
        updated_at=now,
    )
    image.tag_rows = [ImageTag(tag=t, position=i) for i, t in enumerate(fields.tags)]
    return image


@dataclass(frozen=True)
class DeliveryFacts:
    """What the delivery path needs to serve an original, and nothing more."""

    id: str
    owner_id: str
    org_id: str | None
    visibility: str
    status: str
    blob_key: str
    size: int
    sha256: str
    mime_type: str
    format: str
    filename: str | None
    created_at: dt.datetime
    public_blob_key: str | None
    public_sha256: str | None
    public_size: int | None
    width: int
    height: int
    frames: int

    @property
    def pixels(self) -> int:
        return self.width * self.height * max(self.frames, 1)


_DELIVERY_COLUMNS = (
    Image.id,
    Image.owner_id,
    Image.org_id,
    Image.visibility,
    Image.status,
    Image.blob_key,
    Image.size,
    Image.sha256,
    Image.mime_type,
    Image.format,
    Image.filename,
    Image.created_at,
    Image.public_blob_key,
    Image.public_sha256,
    Image.public_size,
    Image.width,
    Image.height,
    Image.frames,
)


async def delivery_facts(reads: FastReader, image_id: str) -> DeliveryFacts | None:
    """One primary-key read of a live image's delivery columns (no ORM object, no tags)."""
    if len(image_id) > 64:
        return None
    query = select(*_DELIVERY_COLUMNS).where(Image.id == image_id, Image.deleted_at.is_(None))
    row = await reads.first(query)
    return None if row is None else DeliveryFacts(**row._mapping)


async def record_processed(
    session: AsyncSession,
    image_id: str,
    *,
    metadata: dict[str, Any],
    gps: dict[str, Any] | None,
    width: int,
    height: int,
    public_blob_key: str | None,
    public_sha256: str | None,
    public_size: int | None,
) -> None:
    """The processing job's result: ready, with metadata (GPS only if opted in)."""
    image = await session.get(Image, image_id)
    if image is None:
        return
    now = utcnow()
    image.status = "ready"
    image.status_reason = None
    image.meta = metadata
    image.gps = gps if image.keep_gps else None
    image.width, image.height = width, height
    image.public_blob_key = None if image.keep_gps else public_blob_key
    image.public_sha256 = None if image.keep_gps else public_sha256
    image.public_size = None if image.keep_gps else public_size
    image.processed_at = now
    image.updated_at = now
    exif = metadata.get("exif") or {}
    image.taken_at = taken_at(exif.get("DateTimeOriginal"))
    image.camera_make = _short(exif.get("Make"))
    image.camera_model = _short(exif.get("Model"))
    await session.flush()


def taken_at(value: object) -> dt.datetime | None:
    """EXIF DateTimeOriginal (ISO 8601 from imaging.metadata) as UTC; a time
    without an offset is taken as UTC (cameras rarely record the zone)."""
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def _short(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:64]


async def mark_unprocessable(
    session: AsyncSession, image_id: str, status: str, reason: str
) -> None:
    """``failed`` (no derivatives) or ``quarantined`` (refused by the scan)."""
    image = await session.get(Image, image_id)
    if image is None:
        return
    now = utcnow()
    image.status = status
    image.status_reason = reason[:300]
    image.processed_at = now
    image.updated_at = now
    await session.flush()


async def get_image(session: AsyncSession, image_id: str) -> Image | None:
    return await session.get(Image, image_id)


async def image_exists(session: AsyncSession, image_id: str) -> bool:
    """Whether the image's row is there now (asks the database, not the session)."""
    return await session.scalar(select(Image.id).where(Image.id == image_id)) is not None


async def update_image(session: AsyncSession, image: Image, patch: ImagePatch) -> Image:
    fields = patch.model_fields_set
    if "visibility" in fields:
        if patch.visibility is None:
            raise AppError(422, "invalid_visibility", "visibility cannot be null.")
        image.visibility = patch.visibility
    if "title" in fields:
        image.title = patch.title
    if "description" in fields:
        image.description = patch.description
    if "tags" in fields:
        tags = normalize_tags(patch.tags or [])
        image.tag_rows = [ImageTag(tag=t, position=i) for i, t in enumerate(tags)]
    image.updated_at = utcnow()
    await session.flush()
    return image


async def soft_delete(session: AsyncSession, image: Image, now: dt.datetime | None = None) -> Image:
    """Hide the image from every read path (they filter ``deleted_at``); bytes
    and rows stay. Conditional, so of two deletes at once the first time wins
    and the second changes nothing. The trash entry that goes with it is
    written by ``lifecycle.services.trash_image``."""
    now = now or utcnow()
    await session.execute(
        update(Image)
        .where(Image.id == image.id, Image.deleted_at.is_(None))
        .values(deleted_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    # Read back without the ORM's refresh, which fails outright if a purge
    # running at the same moment has removed the row: that is a 404.
    row = (
        await session.execute(
            select(Image.deleted_at, Image.updated_at).where(Image.id == image.id)
        )
    ).first()
    if row is None:
        raise NotFound("No such image.")
    set_committed_value(image, "deleted_at", row.deleted_at)
    set_committed_value(image, "updated_at", row.updated_at)
    return image


def _listing(owner_id: str, visible: ColumnElement[bool], tag: str | None) -> Select[Image]:
    query = select(Image).where(Image.owner_id == owner_id, visible)
    if tag:
        query = query.where(
            Image.id.in_(select(ImageTag.image_id).where(ImageTag.tag == tag.strip().lower()))
        )
    return query


async def list_user_images(
    session: AsyncSession,
    owner_id: str,
    *,
    visible: ColumnElement[bool],
    tag: str | None,
    page: int,
    limit: int,
) -> tuple[list[Image], int]:
    """``visible``: what the caller may see in listings (``access.listing``)."""
    base = _listing(owner_id, visible, tag)
    total = await session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = await session.scalars(
        base.order_by(Image.created_at.desc(), Image.id.desc())
        .offset((page - 1) * limit)
        .limit(limit)
    )
    return list(rows), total


# --- image events (webhooks) ----------------------------------------------------------

#: The ``image.*`` kinds, each sent by the feature that makes the change, in the
#: transaction that makes it: uploads (uploaded), processing (ready, failed,
#: quarantined), lifecycle (deleted, restored, purged).
EVENT_TITLES = {
    "image.uploaded": "Image uploaded",
    "image.ready": "Image processed",
    "image.failed": "Image processing failed",
    "image.quarantined": "Image quarantined by the scan",
    "image.deleted": "Image moved to the trash",
    "image.restored": "Image restored from the trash",
    "image.purged": "Image permanently deleted",
}


def _stamp(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def event_data(image: Image) -> dict[str, Any]:
    """What an ``image.*`` event carries: the image's facts at the change."""
    return {
        "imageId": image.id,
        "ownerId": image.owner_id,
        "orgId": image.org_id,
        "status": image.status,
        "statusReason": image.status_reason,
        "visibility": image.visibility,
        "format": image.format,
        "size": image.size,
        "width": image.width,
        "height": image.height,
        "sha256": image.sha256,
        "createdAt": _stamp(image.created_at),
        "deletedAt": _stamp(image.deleted_at),
    }


async def announce(session: AsyncSession, image: Image, kind: str) -> None:
    """Queue the ``image.*`` event ``kind`` about ``image`` to its uploader's
    webhooks (webhooks only: not in-app, not e-mail), in the caller's
    transaction; never flushes (see ``notifications.services.webhook_event``)."""
    await notifications.webhook_event(
        session,
        user_id=image.owner_id,
        kind=kind,
        title=f"{EVENT_TITLES[kind]}: {image.title or image.id}",
        data=event_data(image),
    )
