"""The malware scanner's verdict on an image, and quarantine.

The scan (``processing``) hands its verdict here; an image a scanner refuses
becomes ``quarantined``: never public, its bytes served to nobody (see
``images.policy.check_bytes``), its record still its owner's, its bytes still
counted in its owner's quota. The owner is told (``services.tell_quarantined``:
in-app, e-mail, webhooks) with the reason, which names the signature that matched.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.db import utcnow
from imghost.images import published
from imghost.images.models import Image

# clamd's verdicts: no match; a signature matched; the file could not be
# scanned in full (over clamd's StreamMaxLength: never passed as clean);
# clamd was not consulted (unreachable, and the install fails open).
CLEAN, INFECTED, REFUSED, UNSCANNED = "clean", "infected", "refused", "unscanned"


@dataclass(frozen=True)
class MalwareVerdict:
    """clamd's verdict: ``clean``, ``infected`` (with the ``signature``),
    ``refused`` (too large to scan in full) or ``unscanned`` (clamd was
    unreachable and the install fails open). ``reason``: the sentence shown."""

    status: str
    signature: str | None = None
    reason: str | None = None


def apply_malware(image: Image, verdict: MalwareVerdict, now: dt.datetime) -> None:
    image.malware_scan = verdict.status
    image.malware_signature = verdict.signature
    if verdict.status != UNSCANNED:
        image.malware_scanned_at = now


def quarantine(image: Image, reason: str, now: dt.datetime) -> None:
    """The image becomes ``quarantined`` with ``reason`` (the scan refused it)."""
    image.scan_status = "refused"
    image.scan_reason = reason[:300]
    image.status = "quarantined"
    image.status_reason = image.scan_reason
    image.processed_at = image.processed_at or now
    image.updated_at = now


async def record_rescan(session: AsyncSession, image_id: str, verdict: MalwareVerdict) -> bool:
    """A rescan's verdict on a stored image; True when it newly quarantined it
    (the caller then tells the owner: ``services.tell_quarantined``)."""
    image = await session.get(Image, image_id)
    if image is None or image.deleted_at is not None:
        return False
    now = utcnow()
    apply_malware(image, verdict, now)
    newly = verdict.status in (INFECTED, REFUSED) and image.status != "quarantined"
    if newly:
        await published.unpublish_if(session, image, published.open_to_all(image))
        quarantine(image, verdict.reason or "refused by the malware scanner", now)
    await session.flush()
    return newly


async def record_pdq(session: AsyncSession, image_id: str, pdq: str, quality: int) -> None:
    """Keep the original's PDQ hash (a later rescan matches new list entries
    against it without decoding the image again)."""
    image = await session.get(Image, image_id)
    if image is not None:
        image.pdq, image.pdq_quality = pdq, quality
        await session.flush()


async def record_hash_match(
    session: AsyncSession, image_id: str, list_name: str, reason: str
) -> bool:
    """An operator's hash list (``sha256`` or ``pdq``) matched the image: it
    becomes ``quarantined`` like a malware match (``scan_status`` refused, so
    its code says a scan, not a moderator, decided). True when it newly
    quarantined it; a quarantine already in place is kept as it is."""
    image = await session.get(Image, image_id)
    if image is None or image.deleted_at is not None or image.status == "quarantined":
        return False
    image.hash_match = list_name
    await published.unpublish_if(session, image, published.open_to_all(image))
    quarantine(image, reason, utcnow())
    await session.flush()
    return True


async def rescan_candidates(
    session: AsyncSession,
    *,
    uploaded_since: dt.datetime | None,
    scanned_before: dt.datetime | None,
    after: str,
    limit: int,
) -> list[str]:
    """Ids (in id order, after ``after``) of stored images a rescan looks at:
    live, not quarantined, whose scan passed (``processing`` ones are scanned by
    their own job). ``uploaded_since``: only those uploaded since; and
    ``scanned_before``: only those clamd has not judged since (or ever)."""
    query = select(Image.id).where(
        Image.id > after,
        Image.deleted_at.is_(None),
        Image.status.in_(("ready", "failed")),
        Image.scan_status == "passed",
    )
    if uploaded_since is not None:
        query = query.where(Image.created_at >= uploaded_since)
    if scanned_before is not None:
        query = query.where(
            or_(Image.malware_scanned_at.is_(None), Image.malware_scanned_at < scanned_before)
        )
    return list(await session.scalars(query.order_by(Image.id).limit(limit)))
