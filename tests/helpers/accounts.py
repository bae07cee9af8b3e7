"""Account facts set behind the API's back, for tests that are not about how they are made."""

from __future__ import annotations

from sqlalchemy import update

from imghost.accounts.models import User
from imghost.db import utcnow
from imghost.settings import Settings
from tests.helpers.db import run_sql


def mark_verified(settings: Settings, *user_ids: str) -> None:
    """The users' e-mail addresses count as verified (as if they followed the e-mail)."""
    run_sql(settings, update(User).where(User.id.in_(user_ids)).values(email_verified_at=utcnow()))
