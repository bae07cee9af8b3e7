"""The ``rescan_image`` job of ``imghost rescan``: a stored original through the
operator's hash lists and the malware scanner again."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from pathlib import Path
from typing import Any

from imghost.images import services as images
from imghost.imaging.clamd import ClamdUnavailable
from imghost.imaging.pdq import Pdq, pdq_of_input
from imghost.imaging.probe import ProbeError
from imghost.jobs.queue import Deferred
from imghost.processing.deps import ProcessingDeps
from imghost.processing.hash_match import find_match, quarantine_match
from imghost.processing.malware import ask
from imghost.processing.pixels import pdq_file
from imghost.processing.runner import run_pixels

log = logging.getLogger(__name__)


async def rescan_image(deps: ProcessingDeps, payload: dict[str, Any]) -> None:
    """``imghost rescan``: one stored original through the operator's hash
    lists and the malware scanner again (after a list or signature update). A
    match quarantines the image and tells its owner (a hash-list match also
    opens a report); clamd being down defers the job, whatever the outage
    policy (a rescan is only worth its verdict)."""
    image_id = str(payload["imageId"])
    if deps.malware is None and deps.hashlists is None:
        log.warning(
            "rescan of %s skipped: neither IMGHOST_CLAMD_ADDRESS nor a hash list is set",
            image_id,
        )
        return
    async with deps.sessions() as session:
        image = await images.get_image(session, image_id)
        if image is None or image.deleted_at is not None or image.status == "quarantined":
            return  # gone, or already kept from everyone
        blob_key, fmt, sha256 = image.blob_key, image.format, image.sha256
        pixels, size = image.width * image.height, image.size
        pdq = None if image.pdq is None else Pdq(image.pdq, image.pdq_quality or 0)
    # An image processed before the lists has no PDQ hash yet: made once, kept.
    needs_pdq = pdq is None and deps.hashlists is not None and deps.hashlists.has_pdq
    spool = deps.store.staging_dir / f"job-{uuid.uuid4().hex}"
    try:
        if deps.malware is not None or needs_pdq:
            await deps.store.download(blob_key, spool)
        if needs_pdq:
            pdq = await _pdq_of(deps, image_id, spool, pixels, size)
        if await _rescan_lists(deps, image_id, sha256, pdq, fresh=needs_pdq):
            return
        if deps.malware is None:
            return
        try:
            verdict = await ask(deps.malware, spool, fmt)
        except ClamdUnavailable as exc:
            raise Deferred(f"rescan of {image_id}: {exc}") from exc
    finally:
        with contextlib.suppress(OSError):
            spool.unlink(missing_ok=True)
    async with deps.sessions() as session:
        newly = await images.record_rescan(session, image_id, verdict)
        image = await images.get_image(session, image_id)
        if newly and image is not None:
            await images.tell_quarantined(session, image, deps.malware.name)
        await session.commit()
    if newly:
        log.warning("image %s quarantined by a rescan: %s", image_id, verdict.reason)


async def _pdq_of(
    deps: ProcessingDeps, image_id: str, spool: Path, pixels: int, size: int
) -> Pdq | None:
    """The PDQ hash of a spooled original, in the pixel pool; None (logged)
    when it cannot be decoded (its SHA-256 is still matched)."""
    try:
        pixels_in = await run_pixels(
            deps.pixels,
            deps.settings.job_timeout,
            pixels,
            size,
            pdq_file,
            str(spool),
            deps.settings.max_pixels,
        )
        return await asyncio.to_thread(pdq_of_input, pixels_in)
    except ProbeError as exc:
        log.warning("rescan of %s: no PDQ hash, the image cannot be decoded: %s", image_id, exc)
        return None


async def _rescan_lists(
    deps: ProcessingDeps, image_id: str, sha256: str, pdq: Pdq | None, *, fresh: bool
) -> bool:
    """The hash-list half of a rescan; True when a list matched (and quarantined
    the image). ``fresh``: ``pdq`` was just computed, so it is kept."""
    match = await asyncio.to_thread(find_match, deps.hashlists, sha256, pdq)
    if match is None and not (fresh and pdq is not None):
        return False
    async with deps.sessions() as session:
        if fresh and pdq is not None:
            await images.record_pdq(session, image_id, pdq.hex, pdq.quality)
        if match is not None:
            assert deps.hashlists is not None
            await quarantine_match(session, image_id, match, deps.hashlists.pdq_distance)
        await session.commit()
    return match is not None
