"""`imghost audit verify`: check the audit log's hash chain; `imghost audit head`:
the chain's head, to keep a copy of elsewhere."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console

from imghost.audit.models import AuditHead
from imghost.audit.verify import Report, parse_expected, verify
from imghost.cli.server_settings import load_settings
from imghost.context import AppContext

audit_cli = typer.Typer(help="Check the audit log's hash chain.", no_args_is_help=True)
console = Console()


@audit_cli.command("verify")
def verify_chain(
    expect: str | None = typer.Option(
        None,
        help="a head printed earlier by `imghost audit head` (ID HASH): the chain must "
        "still hold that event with that hash",
    ),
) -> None:
    """Walk the chain from the oldest event kept to the head; exit 1 at the
    first event that does not verify (it is named)."""
    try:
        expected = parse_expected(expect) if expect is not None else None
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(2) from exc

    async def main() -> Report:
        ctx = AppContext.build(load_settings())
        try:
            return await verify(ctx.sessions, expected=expected)
        finally:
            await ctx.close()

    report = asyncio.run(main())
    if report.ok:
        span = (
            f"events {report.first_id}..{report.last_id}"
            if report.first_id is not None
            else "no events"
        )
        console.print(f"audit chain ok: {report.checked} verified ({span})", highlight=False)
        return
    where = f" at event {report.broken_id}" if report.broken_id is not None else ""
    console.print(
        f"[red]audit chain BROKEN{where}[/red]: {report.problem} "
        f"({report.checked} verified before it)",
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(1)


@audit_cli.command("head")
def show_head() -> None:
    """Print the chain's head (last event id and hash). Keep copies elsewhere:
    a chain rewritten from some event on, head included, verifies on its own,
    but no longer matches an earlier copy."""

    async def main() -> tuple[int, str]:
        ctx = AppContext.build(load_settings())
        try:
            async with ctx.sessions() as session:
                head = await session.get(AuditHead, 1)
                assert head is not None, "the audit_head row is missing: run imghost migrate"
                return head.seq, head.hash
        finally:
            await ctx.close()

    seq, digest = asyncio.run(main())
    console.print(f"{seq} {digest}", highlight=False, soft_wrap=True)
