"""`imghost admin grant|revoke USER`: site administrators (moderation rights);
`imghost admin plan USER|ORG PLAN`: storage plans; `imghost admin mfa-reset USER`:
two-factor sign-in off for a user locked out of it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.accounts import services as accounts
from imghost.audit import services as audit
from imghost.auth import mfa
from imghost.cli.jobs import run_in_session
from imghost.cli.server_settings import load_settings
from imghost.context import AppContext
from imghost.errors import AppError
from imghost.quotas import services as quota_services
from imghost.units import human_bytes

admin_cli = typer.Typer(
    help="Site admins, plans and quotas, two-factor resets, users and the service's status.",
    no_args_is_help=True,
)
console = Console()
T = TypeVar("T")


def run_admin(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """``work`` in a committed session; an AppError is printed with its code, exit 1.

    Its audit events are the command line's (actor kind ``cli``)."""
    try:
        with audit.acting(audit.cli_origin()):
            return run_in_session(work)
    except AppError as exc:
        console.print(f"[red]{exc.detail} ({exc.code})[/red]")
        raise typer.Exit(1) from exc


def _set(who: str, admin: bool) -> None:
    async def work(session: AsyncSession) -> str:
        user = await accounts.set_admin(session, who, admin)
        await audit.record(
            session, "admin.grant" if admin else "admin.revoke", target=("user", user.id)
        )
        return user.username

    username = run_admin(work)
    console.print(f"{username} is {'now' if admin else 'no longer'} a site admin")


@admin_cli.command("grant")
def grant(who: str = typer.Argument(help="user id, username or email")) -> None:
    """Make a user a site admin: they may read, change and delete anything."""
    _set(who, True)


@admin_cli.command("revoke")
def revoke(who: str = typer.Argument(help="user id, username or email")) -> None:
    """Take site-admin rights away."""
    _set(who, False)


@admin_cli.command("mfa-reset")
def mfa_reset(who: str = typer.Argument(help="user id, username or email")) -> None:
    """Turn a user's two-factor sign-in off, for one who lost both their app and
    their recovery codes (check who is asking first). The user is notified."""

    async def work(session: AsyncSession) -> tuple[str, bool]:
        user = await accounts.find_user(session, who)
        had = await mfa.reset_by_admin(session, user.id)
        await audit.record(
            session, "admin.mfa_reset", target=("user", user.id), details={"hadFactor": had}
        )
        return user.username, had

    username, had = run_admin(work)
    if had:
        console.print(f"two-factor sign-in of {username} is off; they can enrol again")
    else:
        console.print(f"{username} had no two-factor sign-in: nothing changed")


@admin_cli.command("plan")
def plan(
    who: str = typer.Argument(
        metavar="WHO", help="user id, username or email, or an org id (org_…)"
    ),
    new_plan: str = typer.Argument(metavar="PLAN", help="free or premium"),
) -> None:
    """Change a user's or an org's storage plan; its quota applies to the next upload."""
    settings = load_settings()

    async def main() -> quota_services.Usage:
        ctx = AppContext.build(settings)
        try:
            async with ctx.sessions() as session:
                account_id = who
                if not who.startswith("org_"):
                    account_id = (await accounts.find_user(session, who)).id
                usage = await quota_services.set_plan(session, settings, account_id, new_plan)
                await audit.record(
                    session,
                    "admin.plan",
                    target=("org" if account_id.startswith("org_") else "user", account_id),
                    details={"plan": usage.plan},
                )
                await session.commit()
                return usage
        finally:
            await ctx.close()

    try:
        with audit.acting(audit.cli_origin()):
            usage = asyncio.run(main())
    except AppError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from exc
    console.print(
        f"{usage.account_id} is on the {usage.plan} plan: "
        f"{human_bytes(usage.storage_bytes)} of "
        f"{human_bytes(usage.quota_bytes)} used"
    )
