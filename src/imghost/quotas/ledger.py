"""An account's ``storage_usage`` row: its numbers, the quota test, and the 413.

Every change to an account's numbers is one UPDATE of this row; the ones
that may be refused carry :func:`fits` in their WHERE clause, so the test
and the change are one statement (see ``quotas.services``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.db import utcnow
from imghost.errors import AppError
from imghost.quotas.models import StorageUsage
from imghost.quotas.plans import Kind, kind_of, plan_of, plan_quota
from imghost.settings import Settings
from imghost.units import human_bytes


class CountedImage(Protocol):
    """What quotas needs to know of an image it counts (an ``images`` row)."""

    @property
    def id(self) -> str: ...
    @property
    def blob_key(self) -> str: ...
    @property
    def owner_id(self) -> str: ...
    @property
    def org_id(self) -> str | None: ...
    @property
    def size(self) -> int: ...


def account_of(owner_id: str, org_id: str | None) -> str:
    """The account an image counts against: its org's pooled quota, else its uploader's."""
    return org_id or owner_id


@dataclass(frozen=True)
class Usage:
    account_id: str
    kind: Kind
    plan: str
    originals_bytes: int
    derivatives_bytes: int
    reserved_bytes: int
    images: int
    quota_bytes: int
    # Set when an administrator gave the account its own quota (quota_bytes is it).
    quota_override_bytes: int | None = None

    @property
    def storage_bytes(self) -> int:
        return self.originals_bytes + self.derivatives_bytes


async def usage_of(session: AsyncSession, settings: Settings, account_id: str) -> Usage:
    row = await session.get(StorageUsage, account_id, populate_existing=True)
    plan = await plan_of(session, account_id)
    override = row.quota_override_bytes if row else None
    return Usage(
        account_id=account_id,
        kind=kind_of(account_id),
        plan=plan,
        originals_bytes=row.originals_bytes if row else 0,
        derivatives_bytes=row.derivatives_bytes if row else 0,
        reserved_bytes=row.reserved_bytes if row else 0,
        images=row.images if row else 0,
        quota_bytes=override if override is not None else plan_quota(settings, plan),
        quota_override_bytes=override,
    )


async def ensure_row(session: AsyncSession, account_id: str) -> None:
    """Create the account's usage row if missing (concurrent creators: one wins)."""
    values: dict[str, Any] = {
        "account_id": account_id,
        "kind": kind_of(account_id),
        "originals_bytes": 0,
        "derivatives_bytes": 0,
        "reserved_bytes": 0,
        "images": 0,
        "warned_percent": 0,
        "updated_at": utcnow(),
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(
        insert(StorageUsage).values(**values).on_conflict_do_nothing(index_elements=["account_id"])
    )


async def quota_exceeded(
    session: AsyncSession, settings: Settings, account_id: str, requested: int
) -> AppError:
    usage = await usage_of(session, settings, account_id)
    whose = "the organization's" if usage.kind == "org" else "your"
    left = max(usage.quota_bytes - usage.storage_bytes - usage.reserved_bytes, 0)
    pending = (
        f", {human_bytes(usage.reserved_bytes)} held by uploads in progress"
        if usage.reserved_bytes
        else ""
    )
    return AppError(
        413,
        "quota_exceeded",
        f"This upload needs {human_bytes(requested)} but only {human_bytes(left)} of "
        f"{whose} {human_bytes(usage.quota_bytes)} storage quota is left "
        f"({human_bytes(usage.storage_bytes)} used{pending}). Delete some images, or ask for "
        "a larger plan.",
        used=usage.storage_bytes,
        reserved=usage.reserved_bytes,
        quota=usage.quota_bytes,
        requested=requested,
        accountId=account_id,
    )


def fits(quota: int, extra: int) -> Any:
    """The quota test as SQL: the row's stored and reserved bytes plus ``extra`` fit."""
    return (
        StorageUsage.originals_bytes
        + StorageUsage.derivatives_bytes
        + StorageUsage.reserved_bytes
        + extra
        <= quota
    )
