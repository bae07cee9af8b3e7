"""`imghost admin status|users|quota`: the admin service's health, user search
and quota overrides from the command line (the same as ``/v1/admin/…``)."""

from __future__ import annotations

import json

import typer
from rich.table import Column, Table
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.accounts import services as accounts
from imghost.admin import status
from imghost.admin.status_api import status_out
from imghost.audit import services as audit
from imghost.cli.admin import admin_cli, console, run_admin
from imghost.cli.server_settings import load_settings
from imghost.quotas import services as quotas
from imghost.settings.declare import parse_size
from imghost.units import human_bytes


@admin_cli.command("status")
def show_status(
    as_json: bool = typer.Option(False, "--json", help="Print the API's JSON answer instead"),
) -> None:
    """Queue depth by kind, the job waiting longest, dead jobs, images by state and
    scan refusals, storage totals, and the users nearest their quota."""
    settings = load_settings()
    found = run_admin(lambda session: status.gather(session, settings))
    if as_json:
        print(json.dumps(status_out(found).model_dump(mode="json", by_alias=True), indent=2))
        return
    queue = Table("job kind", "queued", "running", "dead", "done", title="Job queue")
    for kind, counts in sorted(found.queue.items()):
        queue.add_row(kind, *(str(counts.get(s, 0)) for s in ("queued", "running", "dead", "done")))
    console.print(queue)
    oldest = found.oldest_due
    console.print(
        f"waiting longest: {oldest.kind}, {oldest.waiting_seconds} s"
        if oldest
        else "waiting longest: nothing is waiting"
    )
    console.print(f"dead jobs: {found.dead_jobs} ({found.dead_jobs_last_day} in the last day)")
    by_status = ", ".join(f"{k} {v}" for k, v in sorted(found.images.by_status.items()))
    console.print(
        f"images: {by_status or 'none'}; in the trash {found.images.deleted}; "
        f"refused by the scan {found.images.scan_refused}"
    )
    storage = found.storage
    console.print(
        f"storage: {human_bytes(storage.originals_bytes)} originals, "
        f"{human_bytes(storage.derivatives_bytes)} derivatives, "
        f"{human_bytes(storage.reserved_bytes)} held by uploads, over {storage.accounts} accounts"
    )
    near = Table("user", "plan", "used", "quota", "%", title="Nearest their quota")
    for n in found.nearest_quota:
        near.add_row(
            n.username,
            n.plan,
            human_bytes(n.used_bytes),
            human_bytes(n.quota_bytes),
            f"{n.percent:.1f}",
        )
    console.print(near)


@admin_cli.command("users")
def users(
    query: str = typer.Argument(help="a user id, or the start of a username or e-mail"),
    limit: int = typer.Option(20, min=1, max=100),
) -> None:
    """Find users by id, or by the start of their username or e-mail."""
    found = run_admin(lambda session: accounts.search_users(session, query, limit))
    table = Table("username", "email", "plan", "admin")
    # Ids are for copying into other commands: never truncated.
    table.columns.insert(0, Column("id", no_wrap=True, min_width=30))
    for user in found:
        table.add_row(user.id, user.username, user.email, user.plan, "yes" if user.is_admin else "")
    console.print(table)


@admin_cli.command("quota")
def quota(
    who: str = typer.Argument(help="user id, username or email, or an org id (org_…)"),
    size: str = typer.Argument(
        metavar="SIZE", help="the account's own quota (e.g. 20GB, 500MiB), or 'plan' for its plan's"
    ),
) -> None:
    """Give an account a quota of its own in place of its plan's; it applies to the
    next upload."""
    settings = load_settings()
    try:
        quota_bytes = None if size == "plan" else parse_size(size)
    except ValueError as exc:
        raise typer.BadParameter(f"{size!r} is not a size (e.g. 20GB) or 'plan'") from exc

    async def work(session: AsyncSession) -> quotas.Usage:
        account_id = who
        if not who.startswith("org_"):
            account_id = (await accounts.find_user(session, who)).id
        usage = await quotas.set_quota_override(session, settings, account_id, quota_bytes)
        await audit.record(
            session,
            "admin.quota",
            target=("org" if account_id.startswith("org_") else "user", account_id),
            details={"quotaOverrideBytes": quota_bytes},
        )
        return usage

    usage = run_admin(work)
    whose = "its own" if usage.quota_override_bytes is not None else f"the {usage.plan} plan's"
    console.print(
        f"{usage.account_id} has {whose} quota: {human_bytes(usage.storage_bytes)} of "
        f"{human_bytes(usage.quota_bytes)} used"
    )
