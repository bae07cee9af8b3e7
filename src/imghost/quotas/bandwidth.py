"""Monthly bandwidth budgets: bytes of an account's images served per calendar
month (UTC), against its plan's budget (``IMGHOST_BANDWIDTH_FREE`` /
``_PREMIUM``; 0 = unlimited).

The counter is fed by the analytics flush (:func:`count_served`), in the
transaction that writes the batch's daily counts: delivery itself only adds
to the in-memory view counter, as for every other count. So the budget is
known a flush interval late (``IMGHOST_ANALYTICS_FLUSH_INTERVAL``), and
delivery learns that an account is over it at its next refresh
(``IMGHOST_EGRESS_REFRESH``, :func:`over_budget`): an account may overshoot
by what it serves in those few seconds.

Warnings are storage's (``quotas.warnings``): the thresholds of
``IMGHOST_QUOTA_WARNINGS`` plus 100 %, each announced once a month (a new
month's row starts from zero), to the user or to an org's owners and admins.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.accounts import services as accounts
from imghost.db import utcnow
from imghost.orgs import services as orgs
from imghost.quotas import warnings
from imghost.quotas.models import BandwidthUsage
from imghost.quotas.plans import kind_of
from imghost.settings import QuotaSettings
from imghost.units import human_bytes

KIND = "quota.bandwidth_warning"
# Well under every backend's limit on bound parameters per statement.
_CHUNK = 500


def month_of(day: dt.date) -> dt.date:
    """The month ``day`` is in, as its first day (the counter's key)."""
    return day.replace(day=1)


def resets_at(month: dt.date) -> dt.datetime:
    """When the budget of ``month`` is renewed: the next month's first instant, UTC."""
    following = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return dt.datetime(following.year, following.month, 1, tzinfo=dt.UTC)


def plan_budget(settings: QuotaSettings, plan: str | None) -> int:
    """The plan's monthly budget in bytes; 0: unlimited."""
    return settings.bandwidth_premium if plan == "premium" else settings.bandwidth_free


def budgeted(settings: QuotaSettings) -> bool:
    """Whether any plan has a budget (else nothing needs evaluating)."""
    return settings.bandwidth_free > 0 or settings.bandwidth_premium > 0


def levels(settings: QuotaSettings) -> tuple[int, ...]:
    """Thresholds announced: the storage warnings' and always 100 % (used up),
    since the owner, who still gets their images, would not notice otherwise."""
    return tuple(sorted({*settings.quota_warning_levels, 100}))


def _chunks(ids: Collection[str]) -> Iterable[list[str]]:
    ordered = sorted(ids)
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start : start + _CHUNK]


async def budgets_of(
    session: AsyncSession, settings: QuotaSettings, account_ids: Collection[str]
) -> dict[str, int]:
    """Each account's monthly budget (0: unlimited), from the plans in a read
    per kind and chunk; an account that no longer exists gets the free plan's."""
    plans: dict[str, str] = {}
    users = [a for a in account_ids if kind_of(a) == "user"]
    groups = [a for a in account_ids if kind_of(a) == "org"]
    for part in _chunks(users):
        plans.update(await accounts.plans_of(session, part))
    for part in _chunks(groups):
        plans.update(await orgs.plans_of(session, part))
    return {a: plan_budget(settings, plans.get(a)) for a in account_ids}


@dataclass(frozen=True)
class Bandwidth:
    """An account's month so far."""

    month: dt.date
    used_bytes: int
    budget_bytes: int  # 0: unlimited

    @property
    def exceeded(self) -> bool:
        return 0 < self.budget_bytes <= self.used_bytes

    @property
    def resets_at(self) -> dt.datetime:
        return resets_at(self.month)

    @property
    def percent_used(self) -> float | None:
        if not self.budget_bytes:
            return None
        return round(self.used_bytes * 100 / self.budget_bytes, 1)


async def bandwidth_of(
    session: AsyncSession, settings: QuotaSettings, account_id: str, today: dt.date | None = None
) -> Bandwidth:
    month = month_of(today or utcnow().date())
    used = await session.scalar(
        select(BandwidthUsage.bytes).where(
            BandwidthUsage.account_id == account_id, BandwidthUsage.month == month
        )
    )
    budget = (await budgets_of(session, settings, [account_id]))[account_id]
    return Bandwidth(month, int(used or 0), budget)


def _insert(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(BandwidthUsage)


async def count_served(
    session: AsyncSession,
    settings: QuotaSettings | None,
    served: Mapping[tuple[str, dt.date], int],
    today: dt.date | None = None,
) -> None:
    """Add bytes served, keyed by (account, UTC day), to the monthly counters in
    one statement (rows in key order, so concurrent flushers of several
    processes cannot deadlock), then announce the thresholds this month's
    counters crossed (``settings`` None: count only). The caller (the analytics
    flush) commits."""
    months: dict[tuple[str, dt.date], int] = {}
    for (account_id, day), nbytes in served.items():
        key = (account_id, month_of(day))
        months[key] = months.get(key, 0) + nbytes
    if not months:
        return
    now = utcnow()
    stmt = _insert(session)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[BandwidthUsage.account_id, BandwidthUsage.month],
            set_={"bytes": BandwidthUsage.bytes + stmt.excluded.bytes, "updated_at": now},
        ),
        [
            {"account_id": a, "month": m, "bytes": n, "warned_percent": 0, "updated_at": now}
            for (a, m), n in sorted(months.items())
        ],
    )
    if settings is None or not budgeted(settings):
        return
    month = month_of(today or now.date())
    await _evaluate(session, settings, month, {a for a, m in months if m == month})


async def recheck(session: AsyncSession, settings: QuotaSettings, account_id: str) -> None:
    """The account's budget may have changed (a plan change): re-arm the
    thresholds this month's usage is now below, and announce one it now passes."""
    await _evaluate(session, settings, month_of(utcnow().date()), {account_id})


async def _evaluate(
    session: AsyncSession, settings: QuotaSettings, month: dt.date, account_ids: set[str]
) -> None:
    budgets = {a: b for a, b in (await budgets_of(session, settings, account_ids)).items() if b}
    for part in _chunks(budgets):
        rows = await session.execute(
            select(BandwidthUsage.account_id, BandwidthUsage.bytes, BandwidthUsage.warned_percent)
            .where(BandwidthUsage.account_id.in_(part), BandwidthUsage.month == month)
            .order_by(BandwidthUsage.account_id)
        )
        for account_id, used, warned in rows:
            budget = budgets[account_id]
            now_warned, announce = warnings.next_state(levels(settings), warned, None, used, budget)
            if now_warned != warned:
                await session.execute(
                    update(BandwidthUsage)
                    .where(BandwidthUsage.account_id == account_id, BandwidthUsage.month == month)
                    .values(warned_percent=now_warned)
                    .execution_options(synchronize_session=False)
                )
            if announce is not None:
                await _announce(session, account_id, Bandwidth(month, used, budget), announce)


async def _announce(
    session: AsyncSession, account_id: str, usage: Bandwidth, threshold: int
) -> None:
    whose = "The organization's" if kind_of(account_id) == "org" else "Your"
    resets = f"{usage.resets_at:%Y-%m-%d %H:%M} UTC"
    spent = (
        f"{whose} images were served {human_bytes(usage.used_bytes)} this month, of a "
        f"{human_bytes(usage.budget_bytes)} monthly bandwidth budget ({usage.percent_used}%)."
    )
    if threshold >= 100:
        title = f"{whose} monthly bandwidth is used up"
        body = (
            f"{spent} Until it renews on {resets}, everyone else gets an error "
            "(429 bandwidth_exceeded) instead of these images; you still get them. "
            "Ask for a larger plan to lift it sooner."
        )
    else:
        title = f"{whose} monthly bandwidth is {threshold}% used"
        body = (
            f"{spent} When it is used up, others get an error instead of these images "
            f"until it renews on {resets}."
        )
    await warnings.tell(
        session,
        account_id,
        kind=KIND,
        title=title,
        body=body,
        data={
            "threshold": threshold,
            "percentUsed": usage.percent_used,
            "bandwidthBytes": usage.used_bytes,
            "budgetBytes": usage.budget_bytes,
            "month": usage.month.strftime("%Y-%m"),
            "resetsAt": usage.resets_at.isoformat().replace("+00:00", "Z"),
        },
    )


async def over_budget(
    session: AsyncSession, settings: QuotaSettings, today: dt.date | None = None
) -> set[str]:
    """The accounts whose budget for the current month is used up, with the
    plans as they are now: one indexed read of the month's counters over the
    smallest budget, then the plans of those few accounts."""
    plans = (settings.bandwidth_free, settings.bandwidth_premium)
    smallest = min((b for b in plans if b), default=0)
    if not smallest:
        return set()
    month = month_of(today or utcnow().date())
    rows = await session.execute(
        select(BandwidthUsage.account_id, BandwidthUsage.bytes).where(
            BandwidthUsage.month == month, BandwidthUsage.bytes >= smallest
        )
    )
    used: dict[str, int] = {account_id: int(n) for account_id, n in rows}
    budgets = await budgets_of(session, settings, used)
    return {a for a, n in used.items() if 0 < budgets[a] <= n}
