"""`imghost admin grant|revoke USER`: site administrators (moderation rights)."""

from __future__ import annotations

import typer
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.accounts import services as accounts
from imghost.cli.jobs import run_in_session

admin_cli = typer.Typer(help="Grant or revoke site-admin rights.", no_args_is_help=True)
console = Console()


def _set(who: str, admin: bool) -> None:
    async def work(session: AsyncSession) -> str:
        user = await accounts.set_admin(session, who, admin)
        return user.username

    username = run_in_session(work)
    console.print(f"{username} is {'now' if admin else 'no longer'} a site admin")


@admin_cli.command("grant")
def grant(who: str = typer.Argument(help="user id, username or email")) -> None:
    """Make a user a site admin: they may read, change and delete anything."""
    _set(who, True)


@admin_cli.command("revoke")
def revoke(who: str = typer.Argument(help="user id, username or email")) -> None:
    """Take site-admin rights away."""
    _set(who, False)
