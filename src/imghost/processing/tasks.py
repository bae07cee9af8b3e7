"""The `process_image` job: scan, extract metadata, pre-generate derivatives.

Idempotent: it re-reads the image row, overwrites derivatives under fixed keys
and sets the same final state when run twice. The original is never touched,
so it stays retrievable whatever happens here. The scan's verdict is its own
state (`scan_status`), committed first: a step failing after it (for good,
or past the retries) leaves a `failed` image whose original is still served
to those allowed to see it. Each failure names its step and a code.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, TypeVarTuple

from imghost import metrics
from imghost.images import services as images
from imghost.imaging.clamd import ClamdScanner
from imghost.imaging.pdq import pdq_of_input
from imghost.imaging.probe import ProbeError
from imghost.jobs.queue import Deferred
from imghost.jobs.registry import Registry
from imghost.processing import scrub
from imghost.processing.deps import ProcessingDeps
from imghost.processing.hash_match import find_match, quarantine_match
from imghost.processing.kinds import CLAMD_CHECK as CLAMD_CHECK
from imghost.processing.kinds import PROCESS_IMAGE as PROCESS_IMAGE
from imghost.processing.kinds import RESCAN_IMAGE as RESCAN_IMAGE
from imghost.processing.kinds import VERIFY_IMAGE as VERIFY_IMAGE
from imghost.processing.malware import CHECK_EVERY, check_clamd, malware_verdict
from imghost.processing.pixels import StepFailed, first_pass, merge, scan_original, second_pass
from imghost.processing.pool import PixelJobTimeout, PixelWorkerDied
from imghost.processing.rescan import rescan_image
from imghost.processing.runner import run_pixels
from imghost.processing.storing import announce_state, store_first, store_result
from imghost.processing.timing import StepClock
from imghost.processing.variants import PREGENERATED
from imghost.processing.verify import verify_image

log = logging.getLogger(__name__)

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


def register(registry: Registry, deps: ProcessingDeps) -> None:
    registry.add(
        PROCESS_IMAGE,
        functools.partial(process_image, deps),
        dead=functools.partial(process_image_dead, deps),
    )
    registry.add(RESCAN_IMAGE, functools.partial(rescan_image, deps))
    # One pacer per worker process: its slots share IMGHOST_VERIFY_RATE.
    registry.add(VERIFY_IMAGE, functools.partial(verify_image, deps, scrub.Pacer()))


def register_clamd_check(registry: Registry, scanner: ClamdScanner, max_file_size: int) -> None:
    """Workers check clamd 30-60 s after they start and then hourly (only
    where IMGHOST_CLAMD_ADDRESS is set): see ``processing.malware.check_clamd``."""
    registry.every(
        CLAMD_CHECK, CHECK_EVERY, functools.partial(_check_clamd, scanner, max_file_size)
    )


async def _check_clamd(scanner: ClamdScanner, max_file_size: int) -> None:
    await check_clamd(scanner, max_file_size)


async def process_image(deps: ProcessingDeps, payload: dict[str, Any]) -> None:
    image_id = str(payload["imageId"])
    # Queued by the scrub to make lost derivatives again: the image's state
    # is not news to its owner's webhooks.
    announce = not payload.get("repair")
    async with deps.sessions() as session:
        image = await images.get_image(session, image_id)
        if image is None or image.deleted_at is not None:
            return  # deleted meanwhile: nothing to do
        blob_key, fmt, mime, sha256 = image.blob_key, image.format, image.mime_type, image.sha256
        pixels, size = image.width * image.height * max(image.frames, 1), image.size
        dims = image.width, image.height
        scanned = image.scan_status == "passed"  # a retry: the verdict is kept
        keep_gps = image.keep_gps
        clock = StepClock(image.created_at if announce else None)
    spool = deps.store.staging_dir / f"job-{uuid.uuid4().hex}"
    handoff = spool.with_name(spool.name + ".pixels")  # the first pass's pixels, for the second
    step = "store"  # the step an error of this attempt is reported at
    try:
        with clock.step("download"):
            await deps.store.download(blob_key, spool)
        if not scanned:
            step = "scan"
            with clock.step("scan"):
                passed = await _scan(deps, image_id, spool, fmt, size, sha256)
            if not passed:
                return
        # Two pixel calls: the thumbnails first, stored at once (what listings
        # show), then metadata, GPS-free copy and the other presets. A time or
        # memory limit hit by either is reported at its heaviest step, the presets.
        step = "derivatives"
        presets, limit = list(PREGENERATED), deps.settings.max_pixels
        first = await _pixels(
            deps, pixels, size, first_pass, str(spool), fmt, limit, presets, str(handoff)
        )
        clock.add(first.timings)
        stored: list[images.NewVersion] = []
        if first.renders:
            step = "store"
            with clock.step("store_thumb"):
                stored = await store_first(deps, image_id, blob_key, first.renders)
            clock.mark("thumbnail")
        step = "derivatives"
        left = str(handoff) if first.handoff else None
        second = await _pixels(
            deps,
            pixels,
            size,
            second_pass,
            str(spool),
            fmt,
            limit,
            presets,
            not keep_gps,
            left,
            first.failure,
        )
        clock.add(second.timings)
        analysis = merge(first, second)
        pdq = None
        if analysis.pdq_input is not None:
            with clock.step("pdq"):
                pdq = await asyncio.to_thread(pdq_of_input, analysis.pdq_input)
        step = "store"
        with clock.step("store"):
            # Both lists again (one may have changed since the scan of a first attempt).
            match = await asyncio.to_thread(find_match, deps.hashlists, sha256, pdq)
            outcome = await store_result(
                deps, image_id, blob_key, fmt, mime, analysis, dims, stored, pdq, match, announce
            )
        clock.mark(outcome)
        log.info(clock.line(image_id))
        metrics.processing_steps(clock.steps)
    except Deferred:
        raise  # clamd is down (closed policy): not a failure, nothing to note
    except StepFailed as exc:
        await _note(deps, image_id, exc.step, "error")
        raise
    except Exception as exc:
        await _note(deps, image_id, step, failure_code(step, exc))
        raise
    except asyncio.CancelledError:
        # The worker's time limit for the whole job (or a shutdown, after
        # which the job runs again and the note is overwritten or cleared).
        await asyncio.shield(_note(deps, image_id, step, "timeout", within=NOTE_GRACE))
        raise
    finally:
        for leftover in (spool, spool.with_name(spool.name + ".public"), handoff):
            with contextlib.suppress(OSError):
                leftover.unlink(missing_ok=True)


async def _pixels(
    deps: ProcessingDeps, pixels: int, size: int, fn: Callable[[*Ts], T], *args: *Ts
) -> T:
    """A pixel pass of the job, in a thread or the pool (``runner``)."""
    try:
        return await run_pixels(deps.pixels, deps.settings.job_timeout, pixels, size, fn, *args)
    except MemoryError as exc:
        raise MemoryError(
            "the image needs more memory than a worker allows (IMGHOST_JOB_MEMORY_LIMIT)"
        ) from exc


async def _scan(
    deps: ProcessingDeps, image_id: str, spool: Path, fmt: str, size: int, sha256: str
) -> bool:
    """The scan step; its verdict is committed before anything else runs.
    Whether the scan passed. The scan decodes nothing: the file's size alone
    decides where it runs. With a malware scanner configured, it runs after
    the structural scan and ``passed`` is recorded only when both passed (so
    no failure later can make an image clamd never saw retrievable); while
    clamd is down under the closed policy, `Deferred` leaves the image
    ``processing`` with nothing recorded, and the job retries. An original
    whose SHA-256 an operator's hash list names is quarantined before clamd
    is asked (``processing.hash_match``); its PDQ hash is matched later, from
    the decode the presets are made from."""
    try:
        scan = await run_pixels(
            deps.pixels,
            deps.settings.job_timeout,
            0,
            size,
            scan_original,
            str(spool),
            fmt,
            deps.settings.max_pixels,
        )
    except ProbeError as exc:
        # The bytes themselves cannot be scanned: retrying will not help, and
        # an image the scan did not pass stays with its owner.
        await _fail(deps, image_id, images.ProcessingFailure("scan", "unprocessable", exc.detail))
        return False
    if scan.clean and deps.hashlists is not None:
        match = await asyncio.to_thread(find_match, deps.hashlists, sha256, None)
        if match is not None:
            async with deps.sessions() as session:
                await images.record_scan(
                    session, image_id, passed=True, reason=None, original_gps=scan.gps
                )
                await quarantine_match(session, image_id, match, deps.hashlists.pdq_distance)
                await session.commit()
            return False
    passed, reason, scanner, malware = scan.clean, scan.reason, "structural", None
    if scan.clean and deps.malware is not None:
        malware = await malware_verdict(deps, image_id, spool, fmt)
        if malware.status in (images.INFECTED, images.REFUSED):
            passed, reason, scanner = False, malware.reason, deps.malware.name
    async with deps.sessions() as session:
        await images.record_scan(
            session,
            image_id,
            passed=passed,
            reason=reason,
            original_gps=scan.gps,
            malware=malware,
        )
        image = await images.get_image(session, image_id)
        if not passed and image is not None:
            if malware is None:
                # The structural scan's refusal is an image event, as before.
                await images.announce(session, image, "image.quarantined")
            else:
                await images.tell_quarantined(session, image, scanner)
        await session.commit()
    if not passed:
        log.warning("image %s quarantined by the %s scan: %s", image_id, scanner, reason)
    return passed


def failure_code(step: str, exc: BaseException) -> str:
    """How an attempt failed, as the code docs/API.md lists."""
    if isinstance(exc, (PixelJobTimeout, TimeoutError)):
        return "timeout"
    if isinstance(exc, MemoryError):
        return "out_of_memory"
    if isinstance(exc, PixelWorkerDied):
        return "worker_died"
    if step == "store":
        return "store_error"
    return "error"


async def process_image_dead(deps: ProcessingDeps, payload: dict[str, Any], error: str) -> None:
    """Out of attempts: the image is `failed` at the step its last attempt
    noted. Its original stays served to its owner, and to everyone allowed
    to see it when the scan had passed."""
    image_id = str(payload["imageId"])
    async with deps.sessions() as session:
        await images.mark_failed(session, image_id, f"processing failed: {error}")
        await announce_state(session, image_id, "image.failed")
        await session.commit()


async def _fail(deps: ProcessingDeps, image_id: str, failure: images.ProcessingFailure) -> None:
    async with deps.sessions() as session:
        await images.mark_failed(session, image_id, failure.detail, failure)
        await announce_state(session, image_id, "image.failed")
        await session.commit()
    log.warning("image %s failed at %s: %s", image_id, failure.step, failure.detail)


#: How long the note of a cancelled attempt may take: a shutdown waits for it,
#: and on SQLite a job cancelled mid-write can hold the write lock until the
#: engine is disposed (each write would wait out the busy timeout).
NOTE_GRACE = 2.0


async def _note(
    deps: ProcessingDeps, image_id: str, step: str, code: str, within: float | None = None
) -> None:
    """Keep where this attempt failed for the dead-job hook; never hide the error."""
    try:
        async with asyncio.timeout(within), deps.sessions() as session:
            await images.note_failure(session, image_id, step, code)
            await session.commit()
    except Exception:
        log.exception("could not note the failure of image %s", image_id)


# Versions measured per maintenance pass: a few hundred small reads.
MEASURE_BATCH = 200


async def measure_versions(deps: ProcessingDeps) -> int:
    """A maintenance step: record the hash and dimensions of versions stored
    before migration 0014 (it knew at most their sizes), a batch
    per pass, so existing images get complete `versions` without re-rendering.
    The reads happen outside any transaction; one short one records them."""
    async with deps.sessions() as session:
        keys = await images.unmeasured(session, MEASURE_BATCH)
    if not keys:
        return 0
    measured: list[images.Measured] = []
    missing: list[str] = []
    for key in keys:
        found = await images.measure(deps.store, key)
        if found is None:
            missing.append(key)
        else:
            measured.append(found)
    async with deps.sessions() as session:
        await images.record_measured(session, measured, missing)
        await session.commit()
    log.info(
        "image versions stored before 0014: %d measured, %d without a blob dropped",
        len(measured),
        len(missing),
    )
    return len(measured)
