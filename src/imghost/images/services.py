"""Image records: create, read, change, soft delete, list."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from imghost.db import utcnow
from imghost.errors import AppError, NotFound
from imghost.ids import new_id
from imghost.images import published
from imghost.images.damage import DAMAGED as DAMAGED
from imghost.images.damage import HELD
from imghost.images.damage import ScrubTarget as ScrubTarget
from imghost.images.damage import StoredVersion as StoredVersion
from imghost.images.damage import lift_damage as lift_damage
from imghost.images.damage import mark_damaged as mark_damaged
from imghost.images.damage import scrub_candidates as scrub_candidates
from imghost.images.damage import scrub_target as scrub_target
from imghost.images.fields import NewImageFields, normalize_tags
from imghost.images.models import Image as Image
from imghost.images.models import ImageTag
from imghost.images.moderation import find_images as find_images
from imghost.images.moderation import images_by_id as images_by_id
from imghost.images.moderation import quarantine_by_admin as quarantine_by_admin
from imghost.images.moderation import quarantined_by_admin as quarantined_by_admin
from imghost.images.published import open_in_org as open_in_org
from imghost.images.published import open_to_all as open_to_all
from imghost.images.published import unpublish_if as unpublish_if
from imghost.images.quarantine import CLEAN as CLEAN
from imghost.images.quarantine import INFECTED as INFECTED
from imghost.images.quarantine import REFUSED as REFUSED
from imghost.images.quarantine import UNSCANNED as UNSCANNED
from imghost.images.quarantine import MalwareVerdict as MalwareVerdict
from imghost.images.quarantine import apply_malware, quarantine
from imghost.images.quarantine import record_hash_match as record_hash_match
from imghost.images.quarantine import record_pdq as record_pdq
from imghost.images.quarantine import record_rescan as record_rescan
from imghost.images.quarantine import rescan_candidates as rescan_candidates
from imghost.images.schemas import ImagePatch
from imghost.images.stats import ImageStats as ImageStats
from imghost.images.stats import image_stats as image_stats

# The versions API, re-exported for the processing job, the maintenance pass and routes.
from imghost.images.versions import GPS_FREE as GPS_FREE
from imghost.images.versions import PRESET as PRESET
from imghost.images.versions import Measured as Measured
from imghost.images.versions import NewVersion as NewVersion
from imghost.images.versions import add_derived as add_derived
from imghost.images.versions import caller_versions as caller_versions
from imghost.images.versions import measure as measure
from imghost.images.versions import original_row, replace_derived
from imghost.images.versions import record_measured as record_measured
from imghost.images.versions import unmeasured as unmeasured
from imghost.images.withholding import SUSPENDED as SUSPENDED
from imghost.images.withholding import TAKEDOWN as TAKEDOWN
from imghost.images.withholding import on_legal_hold as on_legal_hold
from imghost.images.withholding import release_owner as release_owner
from imghost.images.withholding import set_withheld as set_withheld
from imghost.images.withholding import withhold_owner as withhold_owner
from imghost.imaging.probe import ProbeResult
from imghost.notifications import services as notifications
from imghost.reads import FastReader
from imghost.schemas import ImageSort


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
        scan_status="pending",
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
    # Inserted with the image by every upload path, in the transaction that
    # commits the stored original.
    image.version_rows = [original_row(image)]
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
    keep_gps: bool
    original_gps: bool | None
    scan_status: str
    failed_step: str | None
    failed_code: str | None
    withheld: str | None

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
    Image.keep_gps,
    Image.original_gps,
    Image.scan_status,
    Image.failed_step,
    Image.failed_code,
    Image.withheld,
)


# Built once: constructing the statement cost more than running it (~60 µs a view).
_DELIVERY_QUERY = select(*_DELIVERY_COLUMNS).where(
    Image.id == bindparam("image_id"), Image.deleted_at.is_(None)
)


async def delivery_facts(reads: FastReader, image_id: str) -> DeliveryFacts | None:
    """One primary-key read of a live image's delivery columns (no ORM object, no tags)."""
    if len(image_id) > 64:
        return None
    row = await reads.first(_DELIVERY_QUERY, {"image_id": image_id})
    return None if row is None else DeliveryFacts(**row._mapping)


@dataclass(frozen=True)
class ProcessingFailure:
    """Which processing step failed, how (a code of docs/API.md), and a sentence."""

    step: str  # scan | metadata | derivatives | gps_copy | store
    code: str
    detail: str


async def record_processed(
    session: AsyncSession,
    image_id: str,
    *,
    metadata: dict[str, Any] | None,
    gps: dict[str, Any] | None,
    width: int | None,
    height: int | None,
    public_blob_key: str | None,
    public_sha256: str | None,
    public_size: int | None,
    versions: Sequence[NewVersion] = (),
    failure: ProcessingFailure | None = None,
) -> None:
    """The processing job's result: ready, with metadata (GPS only if opted in)
    and the versions it stored, which replace an earlier run's; ``failed`` with
    what the steps that worked produced when one of them failed."""
    image = await session.get(Image, image_id)
    if image is None:
        return
    if image.keep_gps:  # the owner shares the position: no copy is served
        versions = [v for v in versions if v.kind != GPS_FREE]
    await replace_derived(session, image_id, versions)
    now = utcnow()
    if image.status not in HELD:  # a quarantine or the scrub's finding outlasts the job
        image.status = "ready" if failure is None else "failed"
        image.status_reason = None if failure is None else failure.detail[:300]
    image.failed_step = None if failure is None else failure.step
    image.failed_code = None if failure is None else failure.code
    image.meta = metadata
    image.gps = gps if image.keep_gps else None
    if width is not None and height is not None:  # None: the metadata step failed
        image.width, image.height = width, height
    image.public_blob_key = None if image.keep_gps else public_blob_key
    image.public_sha256 = None if image.keep_gps else public_sha256
    image.public_size = None if image.keep_gps else public_size
    image.processed_at = now
    image.updated_at = now
    exif = (metadata or {}).get("exif") or {}
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


async def record_scan(
    session: AsyncSession,
    image_id: str,
    *,
    passed: bool,
    reason: str | None,
    original_gps: bool,
    malware: MalwareVerdict | None = None,
) -> None:
    """The scan's verdict, kept whatever later steps do. A refusal quarantines.
    ``malware``: the malware scanner's own verdict, when one is configured
    (``passed`` then means both scans passed)."""
    image = await session.get(Image, image_id)
    if image is None:
        return
    now = utcnow()
    if malware is not None:
        apply_malware(image, malware, now)
    image.original_gps = original_gps
    if passed:
        image.scan_status, image.scan_reason = "passed", None
        image.updated_at = now
    else:
        quarantine(image, reason or "refused by the scan", now)
    await session.flush()


async def note_failure(session: AsyncSession, image_id: str, step: str, code: str) -> None:
    """Where the last attempt failed, kept for the dead-job hook (status unchanged)."""
    await session.execute(
        update(Image)
        .where(Image.id == image_id)
        .values(failed_step=step, failed_code=code)
        .execution_options(synchronize_session=False)
    )


async def mark_failed(
    session: AsyncSession, image_id: str, reason: str, failure: ProcessingFailure | None = None
) -> None:
    """``failed``: at ``failure``'s step, or at the step the last attempt noted
    (``error`` at no known step when none did: its worker died first)."""
    image = await session.get(Image, image_id)
    if image is None or image.status in HELD:  # a quarantine or damage outlasts the job
        return
    now = utcnow()
    image.status = "failed"
    image.status_reason = reason[:300]
    if failure is not None:
        image.failed_step, image.failed_code = failure.step, failure.code
    elif image.failed_code is None:
        image.failed_code = "error"
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
        was_open = published.open_to_all(image)
        image.visibility = patch.visibility
        await published.unpublish_if(session, image, was_open and not published.open_to_all(image))
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
    sort: ImageSort = "newest",
) -> tuple[list[Image], int]:
    """``visible``: what the caller may see in listings (``access.listing``).
    ``sort`` as GET /v1/images orders (the id breaks ties, so pages never overlap)."""
    if sort == "relevance":
        # The same answer as GET /v1/images gives without `q`: there is no text here.
        raise AppError(400, "relevance_needs_q", "Sorting by relevance needs a search text `q`.")
    base = _listing(owner_id, visible, tag)
    total = await session.scalar(select(func.count()).select_from(base.subquery())) or 0
    key = [Image.view_count, Image.id] if sort == "most_viewed" else [Image.created_at, Image.id]
    order = [c.asc() if sort == "oldest" else c.desc() for c in key]
    rows = await session.scalars(base.order_by(*order).offset((page - 1) * limit).limit(limit))
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


async def tell_quarantined(session: AsyncSession, image: Image, scanner: str) -> None:
    """The owner learns of a quarantine by the malware scanner: in-app, by
    e-mail (unless turned off) and to webhooks subscribed to
    ``image.quarantined``, in the caller's transaction. Unlike the other
    ``image.*`` events this one is for a person: something they uploaded is no
    longer served because it carries malware, and which (the signature)."""
    name = image.title or image.id
    found = image.malware_signature if image.malware_scan == INFECTED else None
    why = f"The malware scanner found {found} in it." if found else image.scan_reason
    await notifications.notify(
        session,
        user_id=image.owner_id,
        kind="image.quarantined",
        title=f"{EVENT_TITLES['image.quarantined']}: {name}"[:200],
        body=f"Your image {name} ({image.id}) was quarantined and is served to no one. {why}",
        data={**event_data(image), "scanner": scanner, "signature": found},
    )


async def has_alpha(session: AsyncSession, image_id: str) -> bool | None:
    """Whether the image has an alpha channel, as its metadata recorded (None:
    not known, e.g. the metadata step failed). One JSON field, not the whole
    metadata document."""
    value = await session.scalar(
        select(Image.meta["hasAlpha"].as_boolean()).where(Image.id == image_id)
    )
    return None if value is None else bool(value)
