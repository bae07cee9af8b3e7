"""Reading and setting an account's allow-list, and what delivery reloads.

Services take the caller's session and never commit. Who may change an
org's list is the route's check (``orgs.services.get_access``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.db import utcnow
from imghost.errors import AppError
from imghost.hotlink.hosts import MAX_HOSTS, AllowList, BadHost, normalize_all, referer_host
from imghost.hotlink.models import HotlinkAllowList

__all__ = [
    "MAX_HOSTS",
    "AllowList",
    "Listed",
    "allow_list",
    "changed_since",
    "referer_host",
    "set_allow_list",
]


@dataclass(frozen=True)
class Listed:
    """An account's list as stored: empty means protection is off."""

    account_id: str
    hosts: tuple[str, ...]
    updated_at: dt.datetime | None  # None: never set


async def allow_list(session: AsyncSession, account_id: str) -> Listed:
    row = await session.get(HotlinkAllowList, account_id, populate_existing=True)
    if row is None:
        return Listed(account_id, (), None)
    return Listed(account_id, tuple(row.hosts), row.updated_at)


def _checked(entries: Sequence[str]) -> list[str]:
    if len(entries) > MAX_HOSTS:
        raise AppError(
            422,
            "too_many_referrer_hosts",
            f"An allow-list holds at most {MAX_HOSTS} hosts; {len(entries)} were given. "
            "Use wildcards (*.example.com) for many subdomains.",
        )
    try:
        return normalize_all(entries)
    except BadHost as exc:
        why = str(exc)
        raise AppError(422, "invalid_referrer_host", f"{why[:1].upper()}{why[1:]}.") from None


async def set_allow_list(session: AsyncSession, account_id: str, entries: Sequence[str]) -> Listed:
    """Replace the account's list (an empty one turns protection off); flushed.
    422 ``invalid_referrer_host`` or ``too_many_referrer_hosts``."""
    hosts = _checked(entries)
    now = utcnow()
    org = account_id.startswith("org_")
    values: dict[str, Any] = {
        "account_id": account_id,
        "user_id": None if org else account_id,
        "org_id": account_id if org else None,
        "hosts": hosts,
        "updated_at": now,
    }
    dialect = session.get_bind().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(HotlinkAllowList)
    await session.execute(
        insert.values(**values).on_conflict_do_update(
            index_elements=[HotlinkAllowList.account_id],
            set_={"hosts": hosts, "updated_at": now},
        )
    )
    return Listed(account_id, tuple(hosts), now)


async def changed_since(session: AsyncSession, since: dt.datetime | None) -> list[Listed]:
    """The lists written at or after ``since`` (None: every list, off ones
    included), oldest change first."""
    query = select(HotlinkAllowList.account_id, HotlinkAllowList.hosts, HotlinkAllowList.updated_at)
    if since is not None:
        query = query.where(HotlinkAllowList.updated_at >= since)
    rows = await session.execute(query.order_by(HotlinkAllowList.updated_at))
    return [Listed(a, tuple(hosts or ()), at) for a, hosts, at in rows]
