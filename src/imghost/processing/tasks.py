"""The `process_image` job: scan, extract metadata, pre-generate derivatives.

Idempotent: it re-reads the image row, overwrites derivatives under fixed keys
and sets the same final state when run twice. The original is never touched,
so it stays retrievable whatever happens here.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from imghost.images import services as images
from imghost.imaging.probe import ProbeError
from imghost.jobs.registry import Registry
from imghost.processing.deps import ProcessingDeps
from imghost.processing.pixels import Analysis, analyze
from imghost.processing.runner import run_pixels
from imghost.processing.variants import PREGENERATED, derived_key
from imghost.quotas import services as quotas

log = logging.getLogger(__name__)

PROCESS_IMAGE = "process_image"


def register(registry: Registry, deps: ProcessingDeps) -> None:
    registry.add(
        PROCESS_IMAGE,
        functools.partial(process_image, deps),
        dead=functools.partial(process_image_dead, deps),
    )


async def process_image(deps: ProcessingDeps, payload: dict[str, Any]) -> None:
    image_id = str(payload["imageId"])
    async with deps.sessions() as session:
        image = await images.get_image(session, image_id)
        if image is None or image.deleted_at is not None:
            return  # deleted meanwhile: nothing to do
        blob_key, fmt, mime = image.blob_key, image.format, image.mime_type
        pixels, size = image.width * image.height * max(image.frames, 1), image.size
    spool = deps.store.staging_dir / f"job-{uuid.uuid4().hex}"
    try:
        await deps.store.download(blob_key, spool)
        try:
            analysis = await run_pixels(
                deps.pixels,
                deps.settings.job_timeout,
                pixels,
                size,
                analyze,
                str(spool),
                fmt,
                deps.settings.max_pixels,
                list(PREGENERATED),
            )
        except ProbeError as exc:
            # The bytes themselves cannot be processed: retrying will not help.
            await _mark(deps, image_id, "failed", exc.detail)
            return
        except MemoryError as exc:
            raise MemoryError(
                "the image needs more memory than a worker allows (IMGHOST_JOB_MEMORY_LIMIT)"
            ) from exc
        if not analysis.clean:
            await _mark(deps, image_id, "quarantined", analysis.reason or "refused by the scan")
            return
        await _store(deps, image_id, blob_key, mime, analysis)
    finally:
        for leftover in (spool, spool.with_name(spool.name + ".public")):
            with contextlib.suppress(OSError):
                leftover.unlink(missing_ok=True)


async def process_image_dead(deps: ProcessingDeps, payload: dict[str, Any], error: str) -> None:
    """Out of attempts: the image is `failed`; its original stays served to the owner."""
    async with deps.sessions() as session:
        image_id = str(payload["imageId"])
        await images.mark_unprocessable(session, image_id, "failed", f"processing failed: {error}")
        await _announce(session, image_id, "image.failed")
        await session.commit()


async def _store(
    deps: ProcessingDeps, image_id: str, blob_key: str, mime: str, analysis: Analysis
) -> None:
    store = deps.store
    for name, data in analysis.renders:
        await store.put_bytes(derived_key(blob_key, name), data)
    public_key = None
    if analysis.scrubbed_path is not None:
        public_key = derived_key(blob_key, "original-nogps")
        await store.put_file(public_key, Path(analysis.scrubbed_path), mime)
    async with deps.sessions() as session:
        await images.record_processed(
            session,
            image_id,
            metadata=analysis.metadata,
            gps=analysis.gps,
            width=analysis.width,
            height=analysis.height,
            public_blob_key=public_key,
            public_sha256=analysis.scrubbed_sha256,
            public_size=analysis.scrubbed_size,
        )
        # Counted in the owner's (or org's) storage in the same commit; never refused.
        written = {derived_key(blob_key, name): len(data) for name, data in analysis.renders}
        if public_key is not None and analysis.scrubbed_size is not None:
            written[public_key] = analysis.scrubbed_size
        await quotas.derivatives_written(session, deps.settings, image_id, written)
        await _announce(session, image_id, "image.ready")
        await session.commit()
    log.info("image %s processed: %d derivatives", image_id, len(analysis.renders))


async def _mark(deps: ProcessingDeps, image_id: str, status: str, reason: str) -> None:
    async with deps.sessions() as session:
        await images.mark_unprocessable(session, image_id, status, reason)
        await _announce(session, image_id, f"image.{status}")
        await session.commit()
    log.warning("image %s %s: %s", image_id, status, reason)


async def _announce(session: AsyncSession, image_id: str, kind: str) -> None:
    """The image's new state to its uploader's webhooks, in the commit that sets it."""
    image = await images.get_image(session, image_id)
    if image is not None:
        await images.announce(session, image, kind)
