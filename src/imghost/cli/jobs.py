"""`imghost jobs list|stats|retry`: the operator's view of the job queue."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.cli.server_settings import load_settings
from imghost.context import AppContext
from imghost.errors import AppError
from imghost.jobs import queue

jobs_cli = typer.Typer(help="Inspect and retry background jobs.", no_args_is_help=True)
console = Console()
T = TypeVar("T")


def run_in_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def _main() -> T:
        ctx = AppContext.build(load_settings())
        try:
            async with ctx.sessions() as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await ctx.close()

    return asyncio.run(_main())


@jobs_cli.command("list")
def list_jobs(
    status: str | None = typer.Option(None, help="queued, running, done or dead"),
    limit: int = typer.Option(50, help="How many, newest first"),
) -> None:
    """List jobs, newest first."""
    rows = run_in_session(lambda s: queue.list_jobs(s, status, limit))
    table = Table("kind", "image", "status", "attempts", "run at", "last error")
    # Ids are for copying into `imghost jobs retry`: never truncated.
    table.columns.insert(0, Column("id", no_wrap=True, min_width=30))
    for job in rows:
        table.add_row(
            job.id,
            job.kind,
            job.image_id or "",
            job.status,
            f"{job.attempts}/{job.max_attempts}",
            job.run_at.isoformat(timespec="seconds"),
            escape((job.last_error or "")[:80]),
        )
    console.print(table)


@jobs_cli.command()
def stats() -> None:
    """Count jobs by kind and status."""
    counts = run_in_session(queue.stats)
    table = Table("kind", "queued", "running", "done", "dead")
    for kind, by_status in sorted(counts.items()):
        table.add_row(
            kind, *(str(by_status.get(s, 0)) for s in ("queued", "running", "done", "dead"))
        )
    console.print(table)


@jobs_cli.command()
def retry(
    job_id: str | None = typer.Argument(None, help="The job to run again"),
    dead: bool = typer.Option(False, "--dead", help="Requeue every dead job"),
) -> None:
    """Requeue a job (or all dead jobs) with a fresh set of attempts."""
    if dead:
        count = run_in_session(queue.retry_dead)
        console.print(f"requeued {count} dead job(s)")
        return
    if not job_id:
        console.print("give a job id, or --dead")
        raise typer.Exit(2)
    try:
        run_in_session(lambda s: queue.retry(s, job_id))
    except AppError as exc:
        console.print(exc.detail)
        raise typer.Exit(1) from exc
    console.print(f"requeued {job_id}")
