"""The ``verify_image`` job of ``imghost verify``: one image's original and
derivatives read back through the store and compared with their recorded
SHA-256 (``processing.scrub`` reads, ``processing.scrub_runs`` records)."""

from __future__ import annotations

import logging
from typing import Any

from imghost.images import services as images
from imghost.jobs import queue
from imghost.lifecycle import services as lifecycle
from imghost.processing import scrub, scrub_runs
from imghost.processing.deps import ProcessingDeps
from imghost.processing.kinds import PROCESS_IMAGE

log = logging.getLogger(__name__)


async def verify_image(deps: ProcessingDeps, pacer: scrub.Pacer, payload: dict[str, Any]) -> None:
    """``imghost verify``: read one image's original and derivatives back
    through the store and compare each with its recorded SHA-256.

    A missing or corrupt original is reported (the run's findings; admins
    told once per run) and, with ``repair``, the image becomes ``damaged``;
    a damaged image whose original is intact again is lifted (``repair``).
    Missing or corrupt derivatives of an image with an intact original are
    made again by a ``process_image`` job (``repair``: no webhook events).
    Idempotent: a second run reads again and records again; nothing is
    recorded for an image purged meanwhile or whose purge has begun."""
    image_id, run_id = str(payload["imageId"]), str(payload["runId"])
    repair = bool(payload.get("repair"))
    async with deps.sessions() as session:
        target = await images.scrub_target(session, image_id)
    if target is None:
        return  # purged (or processing again) since it was queued
    rate = deps.settings.verify_rate
    read = await scrub.check(deps.store, target.original, pacer, rate)
    total = read.size
    found: list[tuple[scrub.Problem, str]] = []
    status = target.status
    if read.problem is not None:
        damage = repair and status in ("ready", "failed")
        found.append((read.problem, scrub_runs.DAMAGED if damage else scrub_runs.REPORTED))
    elif repair and status == images.DAMAGED:
        intact = scrub.Problem(target.original.blob_key, "original", "intact")
        found.append((intact, scrub_runs.RESTORED))
        status = "restored"
    # Derivatives are made from an intact original only, for an image someone is served.
    remake = read.problem is None and status in ("ready", "failed", "restored")
    for version in target.derived:
        checked = await scrub.check(deps.store, version, pacer, rate)
        total += checked.size
        if checked.problem is not None:
            found.append((checked.problem, scrub_runs.RERENDER if remake else scrub_runs.REPORTED))
    async with deps.sessions() as session:
        if not await images.image_exists(session, image_id) or await lifecycle.being_purged(
            session, image_id
        ):
            return  # its bytes went with a purge: not a loss
        if read.problem is not None and found[0][1] == scrub_runs.DAMAGED:
            reason = f"integrity check {run_id}: the stored original is {read.problem.problem}"
            await images.mark_damaged(session, image_id, reason)
        if status == "restored":
            await images.lift_damage(session, image_id)
        if any(action == scrub_runs.RERENDER for _, action in found):
            queue.enqueue(
                session,
                PROCESS_IMAGE,
                {"imageId": image_id, "repair": True},
                image_id=image_id,
                max_attempts=deps.settings.job_max_attempts,
                priority=queue.BULK,  # part of the sweep: nobody waits for it
            )
        await scrub_runs.record(session, run_id, scrub_runs.Outcome(image_id, total, found))
        await session.commit()
    for problem, action in found:
        log.warning(
            "integrity check %s: image %s, %s %s is %s (%s)",
            run_id,
            image_id,
            problem.kind,
            problem.blob_key,
            problem.problem,
            action,
        )
