"""The scrub's runs and findings (``scrub_runs``, ``scrub_findings``): what
``imghost verify`` queued, what its jobs read and found, and the report an
operator reads (``imghost verify --report RUN``). Flushes, never commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.accounts import services as accounts
from imghost.ids import new_id
from imghost.notifications import services as notifications
from imghost.processing.models import ScrubFinding, ScrubRun
from imghost.processing.scrub import Problem

# What a finding led to (``scrub_findings.action``).
REPORTED = "reported"
DAMAGED = "damaged"
RERENDER = "rerender"
RESTORED = "restored"

NOTIFICATION_KIND = "integrity.damaged"


async def start_run(session: AsyncSession, *, repair: bool, scope: str) -> ScrubRun:
    run = ScrubRun(
        id=new_id("scr"),
        repair=repair,
        scope=scope[:200],
        queued=0,
        verified=0,
        verified_bytes=0,
        problems=0,
    )
    session.add(run)
    await session.flush()
    return run


async def add_queued(session: AsyncSession, run_id: str, count: int) -> None:
    await session.execute(
        update(ScrubRun)
        .where(ScrubRun.id == run_id)
        .values(queued=ScrubRun.queued + count)
        .execution_options(synchronize_session=False)
    )


async def get_run(session: AsyncSession, run_id: str | None) -> ScrubRun | None:
    """The run named, or the newest one (``run_id`` None)."""
    if run_id is not None:
        return await session.get(ScrubRun, run_id)
    query = select(ScrubRun).order_by(ScrubRun.created_at.desc(), ScrubRun.id.desc()).limit(1)
    return await session.scalar(query)


async def findings(session: AsyncSession, run_id: str) -> list[ScrubFinding]:
    query = select(ScrubFinding).where(ScrubFinding.run_id == run_id).order_by(ScrubFinding.id)
    return list(await session.scalars(query))


@dataclass(frozen=True)
class Outcome:
    """One image's scrub: the bytes read, and each problem with its action."""

    image_id: str
    read_bytes: int
    found: Sequence[tuple[Problem, str]]


async def record(session: AsyncSession, run_id: str, outcome: Outcome) -> None:
    """Count the image in its run and keep its findings. The first problem of
    a run tells every site admin (in-app and e-mail), once per run: the
    report lists the rest, so a lost bucket is not a million notifications."""
    problems = sum(1 for _, action in outcome.found if action != RESTORED)
    await session.execute(
        update(ScrubRun)
        .where(ScrubRun.id == run_id)
        .values(
            verified=ScrubRun.verified + 1,
            verified_bytes=ScrubRun.verified_bytes + outcome.read_bytes,
            problems=ScrubRun.problems + problems,
        )
        .execution_options(synchronize_session=False)
    )
    for problem, action in outcome.found:
        session.add(
            ScrubFinding(
                run_id=run_id,
                image_id=outcome.image_id,
                blob_key=problem.blob_key,
                kind=problem.kind,
                problem=problem.problem,
                action=action,
            )
        )
    await session.flush()
    originals = [p for p, action in outcome.found if p.kind == "original" and action != RESTORED]
    if not originals:
        return
    # Under the run row's lock (the UPDATE above), so the findings of every
    # job before this one are committed: exactly one job sees the first.
    total = await session.scalar(
        select(func.count())
        .select_from(ScrubFinding)
        .where(
            ScrubFinding.run_id == run_id,
            ScrubFinding.kind == "original",
            ScrubFinding.action != RESTORED,
        )
    )
    if total == len(originals):
        await _tell_admins(session, run_id, outcome.image_id, originals[0])


async def _tell_admins(session: AsyncSession, run_id: str, image_id: str, first: Problem) -> None:
    for admin_id in await accounts.admin_ids(session):
        await notifications.notify(
            session,
            user_id=admin_id,
            kind=NOTIFICATION_KIND,
            title="Integrity check: damaged images found",
            body=(
                f"The integrity check {run_id} found the original of image {image_id} "
                f"{first.problem}. `imghost verify --report {run_id}` lists every image it "
                "finds; restore their blobs from a backup (docs/OPERATIONS.md, Durability)."
            ),
            data={"runId": run_id, "imageId": image_id, "problem": first.problem},
        )
