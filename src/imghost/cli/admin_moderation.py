"""`imghost admin takedown|reinstate IMAGE` and `suspend|unsuspend USER`: the
API's moderation, for operators at the console (imported by ``cli.main``, which
adds these commands to ``admin_cli``)."""

from __future__ import annotations

from typing import TypeVar

import typer
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.cli.admin import admin_cli, run_admin
from imghost.moderation import services as moderation

console = Console()
T = TypeVar("T")


@admin_cli.command("takedown")
def takedown(
    image: str = typer.Argument(help="image id"),
    reason: str = typer.Option(..., "--reason", help="why (shown to the owner)"),
    reference: str | None = typer.Option(None, "--reference", help="the notice it answers"),
) -> None:
    """Take an image down: 451 everywhere for everyone but admins, bytes under legal hold."""

    async def work(session: AsyncSession) -> str:
        row = await moderation.take_down(
            session, image, reason=reason, reference=reference, admin_id=None
        )
        return row.id

    takedown_id = run_admin(work)
    console.print(f"{image} is taken down ({takedown_id}); its owner is notified")


@admin_cli.command("reinstate")
def reinstate(image: str = typer.Argument(help="image id")) -> None:
    """Lift an image's takedown and its legal hold."""

    async def work(session: AsyncSession) -> None:
        await moderation.reinstate(session, image, admin_id=None)

    run_admin(work)
    console.print(f"{image} is reinstated; its owner is notified")


@admin_cli.command("suspend")
def suspend(
    who: str = typer.Argument(help="user id, username or email"),
    reason: str = typer.Option(..., "--reason", help="why (told to the user)"),
) -> None:
    """Suspend a user: no sign-in, no credential works, their images answer 451."""

    async def work(session: AsyncSession) -> moderation.Suspension:
        return await moderation.suspend(session, who, reason=reason, admin_id=None)

    done = run_admin(work)
    console.print(f"{done.username} is suspended; {done.images_changed} images withheld")


@admin_cli.command("unsuspend")
def unsuspend(who: str = typer.Argument(help="user id, username or email")) -> None:
    """Lift a user's suspension: everything it stopped works again."""

    async def work(session: AsyncSession) -> moderation.Suspension:
        return await moderation.unsuspend(session, who, admin_id=None)

    done = run_admin(work)
    console.print(f"{done.username} is no longer suspended; {done.images_changed} images back")
