"""The audit log over HTTP and from the command line, for the audit tests."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import update
from typer.testing import CliRunner, Result

from imghost.accounts.models import User
from imghost.cli.commands import cli
from imghost.settings import Settings
from tests.factories import UserHandle, make_user
from tests.helpers.db import run_sql


def make_admin(client: httpx.Client, settings: Settings) -> UserHandle:
    admin = make_user(client)
    run_sql(settings, update(User).where(User.id == admin.user_id).values(is_admin=True))
    return admin


def admin_events(
    client: httpx.Client, admin: UserHandle, **params: str | int
) -> list[dict[str, Any]]:
    """Every event the filters match, newest first (all pages)."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query: dict[str, str | int] = {**params, "limit": 200}
        if cursor:
            query["cursor"] = cursor
        r = client.get("/v1/admin/audit", params=query, headers=admin.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        found.extend(body["events"])
        cursor = body["next"]
        if cursor is None:
            return found


def run_cli(settings: Settings, *args: str) -> Result:
    env = {
        "IMGHOST_DATABASE_URL": settings.database_url,
        "IMGHOST_STORAGE_URL": settings.storage_url,
        "IMGHOST_SECRET_KEY": settings.secret_key,
    }
    return CliRunner().invoke(cli, list(args), env=env)
