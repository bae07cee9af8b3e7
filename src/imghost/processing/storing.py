"""Writing what the processing job's pixel passes made, and recording it.

Twice per image: the thumbnail presets as soon as they exist (listed and
served while the job makes the rest; the image stays ``processing``), then
everything else with the image's final state in one commit.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from imghost.images import services as images
from imghost.imaging.pdq import Pdq
from imghost.processing.deps import ProcessingDeps
from imghost.processing.hash_match import quarantine_match
from imghost.processing.hashlists import Match
from imghost.processing.pixels import Analysis, Render
from imghost.processing.variants import EXT_FORMAT, derived_key
from imghost.quotas import services as quotas
from imghost.storage import BlobStore

log = logging.getLogger(__name__)


async def store_first(
    deps: ProcessingDeps, image_id: str, blob_key: str, renders: list[Render]
) -> list[images.NewVersion]:
    """Write and record the first pass's renders (the thumbnails) in a commit
    of their own, so ``thumb.*`` is served from the store from now on; the
    image's state does not change. Returns their versions, for the final record."""
    versions = await _put(deps.store, blob_key, renders)
    async with deps.sessions() as session:
        if await images.image_exists(session, image_id):
            await images.add_derived(session, image_id, versions)
            written = {v.blob_key: v.size for v in versions}
            await quotas.derivatives_written(session, deps.settings, image_id, written)
            await session.commit()
    return versions


async def store_result(
    deps: ProcessingDeps,
    image_id: str,
    blob_key: str,
    fmt: str,
    mime: str,
    analysis: Analysis,
    dims: tuple[int, int],
    stored: list[images.NewVersion],
    pdq: Pdq | None = None,
    match: Match | None = None,
    announce: bool = True,
) -> str:
    """Write what the second pass made and record everything (``stored``: the
    versions `store_first` wrote, whose renders lead ``analysis.renders``);
    returns the outcome: ``ready``, ``failed`` or ``quarantined``. ``dims``:
    the image's stored size, for the GPS-free copy when the metadata step
    failed. ``match``: a hash list matched, so the image is quarantined in the
    same commit that records it (it was never ``ready``: nobody else saw it)."""
    done = {v.blob_key for v in stored}
    fresh = [r for r in analysis.renders if derived_key(blob_key, r.name) not in done]
    versions = [*stored, *await _put(deps.store, blob_key, fresh)]
    public_key = None
    if analysis.scrubbed_path is not None:
        public_key = derived_key(blob_key, "original-nogps")
        await deps.store.put_file(public_key, Path(analysis.scrubbed_path), mime)
        if analysis.scrubbed_sha256 is not None and analysis.scrubbed_size is not None:
            versions.append(
                images.NewVersion(
                    kind=images.GPS_FREE,
                    name="original",
                    blob_key=public_key,
                    format=fmt,
                    width=analysis.width or dims[0],
                    height=analysis.height or dims[1],
                    size=analysis.scrubbed_size,
                    sha256=analysis.scrubbed_sha256,
                )
            )
    failure = None
    if analysis.failure is not None:
        failure = images.ProcessingFailure(*analysis.failure)
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
            versions=versions,
            failure=failure,
        )
        # Counted in the owner's (or org's) storage in the same commit; never refused.
        written = {derived_key(blob_key, r.name): len(r.data) for r in analysis.renders}
        if public_key is not None and analysis.scrubbed_size is not None:
            written[public_key] = analysis.scrubbed_size
        await quotas.derivatives_written(session, deps.settings, image_id, written)
        if pdq is not None:
            await images.record_pdq(session, image_id, pdq.hex, pdq.quality)
        quarantined = False
        if match is not None:
            assert deps.hashlists is not None  # only the lists make a match
            threshold = deps.hashlists.pdq_distance
            quarantined = await quarantine_match(session, image_id, match, threshold) is not None
        if announce and not quarantined:  # else the owner and webhooks heard image.quarantined
            await announce_state(
                session, image_id, "image.ready" if failure is None else "image.failed"
            )
        await session.commit()
    if failure is not None:
        log.warning("image %s failed at %s: %s", image_id, failure.step, failure.detail)
        return "failed"
    return "quarantined" if quarantined else "ready"


async def _put(store: BlobStore, blob_key: str, renders: list[Render]) -> list[images.NewVersion]:
    versions = []
    for render in renders:
        key = derived_key(blob_key, render.name)
        await store.put_bytes(key, render.data)
        preset, _, ext = render.name.partition(".")
        versions.append(
            images.NewVersion(
                kind=images.PRESET,
                name=preset,
                blob_key=key,
                format=EXT_FORMAT[ext],
                width=render.width,
                height=render.height,
                size=len(render.data),
                sha256=render.sha256,
            )
        )
    return versions


async def announce_state(session: AsyncSession, image_id: str, kind: str) -> None:
    """The image's new state to its uploader's webhooks, in the commit that sets it."""
    image = await images.get_image(session, image_id)
    if image is not None:
        await images.announce(session, image, kind)
