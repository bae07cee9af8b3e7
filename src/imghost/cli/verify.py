"""`imghost verify [--sample N|--fraction F] [--since DATE] [--repair]`: the
scrub. Every stored original (or a sample) and its derivatives are read back
through the store by ``verify_image`` jobs, at most IMGHOST_VERIFY_RATE bytes
a second per worker process, and compared with the SHA-256 recorded when
each was written.

The command starts a run, queues one job per image and prints the run's id;
the workers do the reading. ``--report [RUN]`` prints a run's progress and
findings (the newest run without RUN) and exits 1 when it found a missing
or corrupt original. Which images: every one but those still processing
(trashed ones included: they may still be restored); ``--since DATE``: those
uploaded since; ``--sample N``: N of them at random; ``--fraction F``: each
with probability F.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import AsyncIterator

import typer
from rich.console import Console
from rich.markup import escape

from imghost.cli.rescan import parse_since
from imghost.cli.server_settings import load_settings
from imghost.context import AppContext
from imghost.images import services as images
from imghost.jobs import queue
from imghost.processing import scrub_runs
from imghost.processing.tasks import VERIFY_IMAGE

console = Console()
BATCH = 500  # images read and queued per transaction


def verify(
    sample: int | None = typer.Option(
        None, "--sample", min=1, help="Verify N images chosen at random"
    ),
    fraction: float | None = typer.Option(
        None, "--fraction", min=0.0, max=1.0, help="Verify each image with this probability"
    ),
    since: str | None = typer.Option(
        None, "--since", help="Only images uploaded since this date (YYYY-MM-DD or ISO 8601)"
    ),
    repair: bool = typer.Option(
        False, "--repair", help="Mark images whose original is missing or corrupt `damaged`"
    ),
    report: bool = typer.Option(False, "--report", help="Print a run's findings (RUN or newest)"),
    run: str | None = typer.Argument(None, help="The run to report on (with --report)"),
) -> None:
    """Read stored images back and compare them with their recorded SHA-256 (a scrub), as jobs."""
    if sample is not None and fraction is not None:
        raise typer.BadParameter("give --sample or --fraction, not both")
    settings = load_settings()
    if report:
        raise typer.Exit(asyncio.run(_report(AppContext.build(settings), run)))
    uploaded_since = None if since is None else parse_since(since)
    scope = " ".join(
        part
        for part in (
            f"--sample {sample}" if sample is not None else "",
            f"--fraction {fraction}" if fraction is not None else "",
            f"--since {since}" if since is not None else "",
            "--repair" if repair else "",
        )
        if part
    )

    async def _main() -> tuple[str, int]:
        ctx = AppContext.build(settings)
        try:
            async with ctx.sessions() as session:
                started = await scrub_runs.start_run(session, repair=repair, scope=scope or "all")
                await session.commit()
            payload = {"runId": started.id, "repair": repair}
            rng = random.Random()
            queued = 0
            if sample is not None:
                chosen = await _reservoir(_walk(ctx, uploaded_since), sample, rng)
                for at in range(0, len(chosen), BATCH):
                    queued += await _queue(ctx, chosen[at : at + BATCH], payload)
            else:
                # Queued as walked: memory for one batch of ids, however many images.
                async for ids in _walk(ctx, uploaded_since):
                    if fraction is not None:
                        ids = [i for i in ids if rng.random() < fraction]
                    queued += await _queue(ctx, ids, payload)
            return started.id, queued
        finally:
            await ctx.close()

    run_id, count = asyncio.run(_main())
    console.print(f"integrity check {run_id}: {count} images queued ({VERIFY_IMAGE} jobs).")
    console.print(f"Progress and findings: imghost verify --report {run_id}", soft_wrap=True)


async def _walk(ctx: AppContext, since: dt.datetime | None) -> AsyncIterator[list[str]]:
    """The ids of the images a scrub reads, in id order, a batch at a time."""
    after = ""
    while True:
        async with ctx.sessions() as session:
            ids = await images.scrub_candidates(
                session, uploaded_since=since, after=after, limit=BATCH
            )
        if ids:
            yield ids
        if len(ids) < BATCH:
            return
        after = ids[-1]


async def _reservoir(batches: AsyncIterator[list[str]], size: int, rng: random.Random) -> list[str]:
    """``size`` ids chosen uniformly at random (memory for ``size`` ids only)."""
    chosen: list[str] = []
    seen = 0
    async for ids in batches:
        for image_id in ids:
            seen += 1
            if len(chosen) < size:
                chosen.append(image_id)
            elif (slot := rng.randrange(seen)) < size:
                chosen[slot] = image_id
    return sorted(chosen)


async def _queue(ctx: AppContext, ids: list[str], payload: dict[str, object]) -> int:
    """One job per image and the run's count, in one transaction."""
    if not ids:
        return 0
    async with ctx.sessions() as session:
        for image_id in ids:
            queue.enqueue(
                session,
                VERIFY_IMAGE,
                {"imageId": image_id, **payload},
                image_id=image_id,
                max_attempts=ctx.settings.job_max_attempts,
                priority=queue.BULK,  # after every upload's processing
            )
        await scrub_runs.add_queued(session, str(payload["runId"]), len(ids))
        await session.commit()
    return len(ids)


async def _report(ctx: AppContext, run_id: str | None) -> int:
    try:
        async with ctx.sessions() as session:
            found = await scrub_runs.get_run(session, run_id)
            if found is None:
                console.print("no such integrity check run" if run_id else "no run yet")
                return 2
            rows = await scrub_runs.findings(session, found.id)
    finally:
        await ctx.close()
    console.print(
        f"integrity check {found.id} ({found.scope}), started {found.created_at:%Y-%m-%d %H:%M}Z: "
        f"{found.verified} of {found.queued} images verified, "
        f"{found.verified_bytes:,} bytes read, {found.problems} problems",
        soft_wrap=True,
    )
    bad_originals = 0
    # Whole ids and keys, one per line, for copying (never wrapped).
    for row in rows:
        if row.kind == "original" and row.action != scrub_runs.RESTORED:
            bad_originals += 1
        console.print(
            f"  {row.image_id} {row.kind} {row.problem} ({row.action}) {escape(row.blob_key)}",
            soft_wrap=True,
            highlight=False,
        )
    return 1 if bad_originals else 0
