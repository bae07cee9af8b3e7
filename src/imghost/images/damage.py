"""Damaged images: an original the scrub (``imghost verify --repair``) found
missing or unlike its recorded SHA-256.

A ``damaged`` image is served to nobody (``images.policy.check_bytes``: 410
``damaged`` to its owner and admins, 404 to others), listed nowhere but its
owner's own listing (every public listing wants ``ready``), and no status
change lifts it: a processing job keeps it (``services.record_processed``,
``mark_failed``), a visibility change does not list it. Only a later scrub
that finds the original intact again (an operator restored the blob from a
backup) makes it what it was before.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.db import utcnow
from imghost.images import published
from imghost.images.models import Image, ImageVersion

DAMAGED = "damaged"
# Statuses a processing job never overwrites: a decision about the image's
# bytes (a quarantine, or the scrub's finding) outlasts any job.
HELD = ("quarantined", DAMAGED)
# What the scrub reads: every stored image but those still being processed
# (their job has just read the original), deleted ones in the trash included.
SCRUBBED = ("ready", "failed", "quarantined", DAMAGED)


@dataclass(frozen=True)
class StoredVersion:
    """One blob the scrub reads: its key, kind, recorded size and hash (None
    only for presets stored before migration 0014 and not yet measured)."""

    blob_key: str
    kind: str
    size: int
    sha256: str | None


@dataclass(frozen=True)
class ScrubTarget:
    image_id: str
    status: str
    original: StoredVersion
    derived: tuple[StoredVersion, ...]


async def scrub_candidates(
    session: AsyncSession, *, uploaded_since: dt.datetime | None, after: str, limit: int
) -> list[str]:
    """Ids (in id order, after ``after``) of the images a scrub reads."""
    query = select(Image.id).where(Image.id > after, Image.status.in_(SCRUBBED))
    if uploaded_since is not None:
        query = query.where(Image.created_at >= uploaded_since)
    return list(await session.scalars(query.order_by(Image.id).limit(limit)))


async def scrub_target(session: AsyncSession, image_id: str) -> ScrubTarget | None:
    """The blobs of one image as recorded; None when it is gone (purged) or
    still processing."""
    image = await session.get(Image, image_id)
    if image is None or image.status not in SCRUBBED:
        return None
    rows: Sequence[ImageVersion] = list(
        await session.scalars(
            select(ImageVersion)
            .where(ImageVersion.image_id == image_id, ImageVersion.blob_key != image.blob_key)
            .order_by(ImageVersion.blob_key)
        )
    )
    return ScrubTarget(
        image_id=image.id,
        status=image.status,
        # The image row's own facts: what the upload hashed.
        original=StoredVersion(image.blob_key, "original", image.size, image.sha256),
        derived=tuple(StoredVersion(r.blob_key, r.kind, r.size, r.sha256) for r in rows),
    )


async def mark_damaged(session: AsyncSession, image_id: str, reason: str) -> bool:
    """The image becomes ``damaged``; True when it was not already (a
    quarantine stays: it already keeps the bytes from everyone, and a
    moderator's decision is not the scrub's to replace)."""
    image = await session.get(Image, image_id)
    if image is None or image.status not in ("ready", "failed"):
        return False
    await published.unpublish_if(session, image, published.open_to_all(image))
    now = utcnow()
    image.status = DAMAGED
    image.status_reason = reason[:300]
    image.updated_at = now
    await session.flush()
    return True


async def lift_damage(session: AsyncSession, image_id: str) -> bool:
    """A damaged image whose original matches its hash again is what its
    processing made it: ``failed`` when a step failed, else ``ready``. True
    when it was damaged."""
    image = await session.get(Image, image_id)
    if image is None or image.status != DAMAGED:
        return False
    image.status = "failed" if image.failed_step else "ready"
    image.status_reason = None
    image.updated_at = utcnow()
    await session.flush()
    return True
