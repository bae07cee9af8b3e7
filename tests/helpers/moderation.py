"""Site admins and abuse reports, for the report and admin tests."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import update

from imghost.accounts.models import User
from imghost.settings import Settings
from tests.factories import UserHandle, make_user
from tests.helpers.db import run_sql


def make_admin(client: httpx.Client, settings: Settings) -> UserHandle:
    """A new user made a site admin behind the API's back (`imghost admin grant`)."""
    admin = make_user(client)
    run_sql(settings, update(User).where(User.id == admin.user_id).values(is_admin=True))
    return admin


def file_report(
    client: httpx.Client,
    image_id: str,
    reason: str = "abuse",
    details: str | None = None,
    user: UserHandle | None = None,
) -> dict[str, Any]:
    """Report ``image_id`` (anonymously without ``user``); 202 expected."""
    body: dict[str, Any] = {"reason": reason}
    if details is not None:
        body["details"] = details
    r = client.post(
        f"/v1/images/{image_id}/reports", json=body, headers=user.headers if user else {}
    )
    assert r.status_code == 202, r.text
    answer: dict[str, Any] = r.json()
    return answer
