"""The hash-list step of processing: what a match against an operator's list of
known-bad hashes does (``processing.hashlists`` holds the lists).

A match is treated as what such lists are for, material that must not be
served: the image becomes ``quarantined`` (code ``hash_list_match``; never
public, its bytes served to no one but site admins), its owner is told like
for a malware match, a report with no reporter and the reason ``illegal`` (the
most severe, so its image heads the moderators' queue) asks an admin to
decide, and the audit log records ``scan.hash_match`` (actor kind ``system``).
All of it in the caller's transaction, which commits it.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from imghost.audit import services as audit
from imghost.images import services as images
from imghost.imaging.pdq import MIN_QUALITY, Pdq
from imghost.processing.hashlists import PDQ, HashLists, Match
from imghost.reports import services as reports

log = logging.getLogger(__name__)

SCANNER = "hash_list"  # the quarantine's scanner, as the owner's notification names it


def find_match(lists: HashLists | None, sha256: str, pdq: Pdq | None) -> Match | None:
    """The first listed hash the image matches: its SHA-256 exactly, else its
    PDQ hash within the distance (not for hashes of too little quality: a
    nearly flat image's PDQ bits are noise and would match at random)."""
    if lists is None:
        return None
    found = lists.match_sha256(sha256)
    if found is None and pdq is not None and pdq.quality >= MIN_QUALITY:
        found = lists.match_pdq(pdq.hex)
    return found


async def quarantine_match(
    session: AsyncSession, image_id: str, match: Match, threshold: int
) -> str | None:
    """Quarantine the image, tell its owner, open a report and audit it, in the
    caller's transaction. The report's id; None when the image was gone or
    already quarantined (nothing done: no second report for one image)."""
    reason = (
        "It matches an entry of a list of known illegal or abusive images "
        f"({match.list.upper() if match.list != PDQ else 'PDQ'} hash list)."
    )
    if not await images.record_hash_match(session, image_id, match.list, reason):
        return None
    image = await images.get_image(session, image_id)
    assert image is not None  # record_hash_match found it
    await images.tell_quarantined(session, image, SCANNER)
    limit = f" (threshold {threshold} bits)" if match.list == PDQ else ""
    filed = await reports.file_report(
        session,
        image_id=image_id,
        reporter_id=None,
        reason="illegal",
        details=f"Automatic report: the image matched {match.describe()}{limit}.",
    )
    await audit.record(
        session,
        "scan.hash_match",
        actor_kind="system",
        target=("image", image_id),
        details={
            "list": match.list,
            "file": match.file,
            "line": match.line,
            "distance": match.distance,
            "reportId": filed.report.id,
            "ownerId": image.owner_id,
        },
        origin=audit.Origin(actor_kind="system"),
    )
    log.warning(
        "image %s quarantined: it matched %s; report %s opened",
        image_id,
        match.describe(),
        filed.report.id,
    )
    return filed.report.id
