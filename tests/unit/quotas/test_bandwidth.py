"""Monthly bandwidth budgets: calendar months in UTC, plans' budgets, thresholds."""

from __future__ import annotations

import datetime as dt

from imghost.quotas.bandwidth import Bandwidth, levels, month_of, plan_budget, resets_at
from imghost.settings import Settings


def test_months_and_their_reset() -> None:
    assert month_of(dt.date(2026, 3, 31)) == dt.date(2026, 3, 1)
    assert resets_at(dt.date(2026, 1, 1)) == dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    assert resets_at(dt.date(2026, 12, 1)) == dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    assert resets_at(dt.date(2028, 2, 1)) == dt.datetime(2028, 3, 1, tzinfo=dt.UTC)


def test_budgets_by_plan_and_unlimited_by_default() -> None:
    assert plan_budget(Settings(), "free") == plan_budget(Settings(), "premium") == 0
    s = Settings.from_env({"IMGHOST_BANDWIDTH_FREE": "10GB", "IMGHOST_BANDWIDTH_PREMIUM": "1000GB"})
    assert plan_budget(s, "free") == 10_000_000_000
    assert plan_budget(s, "premium") == 1_000_000_000_000
    assert plan_budget(s, None) == plan_budget(s, "other") == s.bandwidth_free


def test_used_up_is_always_announced() -> None:
    assert levels(Settings()) == (80, 95, 100)
    assert levels(Settings(quota_warnings="")) == (100,)


def test_a_month_so_far() -> None:
    month = dt.date(2026, 5, 1)
    assert Bandwidth(month, 500, 0).percent_used is None
    assert not Bandwidth(month, 500, 0).exceeded  # unlimited
    assert Bandwidth(month, 999, 1000).percent_used == 99.9
    assert not Bandwidth(month, 999, 1000).exceeded
    assert Bandwidth(month, 1000, 1000).exceeded
