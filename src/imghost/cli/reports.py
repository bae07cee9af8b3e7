"""`imghost admin reports [--status]` and `imghost admin report resolve|dismiss ID`:
the moderators' queue from the command line, as `/v1/admin/reports` gives it.

Decisions taken here have no admin user behind them: they are recorded with
no actor (``closedBy`` null), like every operator command.
"""

from __future__ import annotations

from typing import TypeVar

import typer
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.cli.admin import admin_cli, run_admin
from imghost.reports import services as reports
from imghost.reports.schemas import ACTIVE

report_cli = typer.Typer(
    help="Decide on a reported image: resolve (quarantine) or dismiss.", no_args_is_help=True
)
admin_cli.add_typer(report_cli, name="report")
console = Console()
T = TypeVar("T")
STATUSES = (*ACTIVE, "resolved", "dismissed")
ACTIONS = ("quarantine", "takedown")  # reports.schemas.Resolution


@admin_cli.command("reports")
def list_reports(
    status: str = typer.Option("open", help="open, assigned, resolved or dismissed"),
    limit: int = typer.Option(50, min=1, max=100, help="How many images, most urgent first"),
) -> None:
    """Reported images, most urgent first: most severe reason, most reports, oldest."""
    if status not in STATUSES:
        console.print(f"[red]--status must be one of {', '.join(STATUSES)}[/red]")
        raise typer.Exit(2)
    page = run_admin(lambda s: reports.list_queue(s, status=status, limit=limit, cursor=None))
    # One line per image, ids whole (for copying into `imghost admin report …`):
    # a table of them does not fit a terminal.
    for group in page.groups:
        newest = group.reports[0].id if group.reports else "-"
        taken = f"  assigned to {group.assignee_id}" if group.assignee_id else ""
        console.print(
            f"{group.image_id}  {group.count} report(s)  top reason: {group.top_reason}  "
            f"oldest: {group.oldest_at.strftime('%Y-%m-%d %H:%M')}  newest: {newest}{taken}",
            soft_wrap=True,
        )
    if not page.groups:
        console.print(f"no {status} reports")
    if page.next_cursor:
        console.print(f"more: the first {limit} images are shown")


@report_cli.command("resolve")
def resolve(
    report_id: str = typer.Argument(help="a report id (rpt_…): its image's reports close"),
    action: str = typer.Option(
        "quarantine", help="what happens to the image: quarantine or takedown"
    ),
    note: str | None = typer.Option(None, help="why, for the record"),
) -> None:
    """Act on the report's image and close every open report of it."""
    if action not in ACTIONS:
        console.print(f"[red]--action must be one of {', '.join(ACTIONS)}[/red]")
        raise typer.Exit(2)

    async def work(session: AsyncSession) -> tuple[str, int]:
        image_id, closed = await reports.decide(
            session, report_id, resolution=action, by=None, note=note
        )
        return image_id, len(closed)

    image_id, count = run_admin(work)
    console.print(f"{image_id}: {action} done; {count} report(s) resolved")


@report_cli.command("dismiss")
def dismiss(
    report_id: str = typer.Argument(help="a report id (rpt_…): its image's reports close"),
    note: str | None = typer.Option(None, help="why, for the record"),
) -> None:
    """Close every open report of the report's image without acting on it."""

    async def work(session: AsyncSession) -> tuple[str, int]:
        image_id, closed = await reports.decide(
            session, report_id, resolution="dismiss", by=None, note=note
        )
        return image_id, len(closed)

    image_id, count = run_admin(work)
    console.print(f"{image_id}: {count} report(s) dismissed")
