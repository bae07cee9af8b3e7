"""The crossing logic of quota warnings: once per crossing, re-armed below."""

from __future__ import annotations

import pytest

from imghost.quotas.warnings import level, next_state

LEVELS = (80, 95)
Q = 1000


def test_level_is_the_highest_threshold_reached() -> None:
    assert level(LEVELS, 0, Q) == 0
    assert level(LEVELS, 799, Q) == 0
    assert level(LEVELS, 800, Q) == 80
    assert level(LEVELS, 949, Q) == 80
    assert level(LEVELS, 950, Q) == 95
    assert level(LEVELS, 5000, Q) == 95
    assert level((), 5000, Q) == 0


def test_an_upward_crossing_is_announced_once() -> None:
    assert next_state(LEVELS, 0, None, 700, Q) == (0, None)
    assert next_state(LEVELS, 0, None, 810, Q) == (80, 80)
    # Still above 80, not yet 95: nothing new.
    assert next_state(LEVELS, 80, None, 900, Q) == (80, None)
    assert next_state(LEVELS, 80, None, 960, Q) == (95, 95)
    assert next_state(LEVELS, 95, None, 990, Q) == (95, None)


def test_jumping_over_several_thresholds_announces_the_highest() -> None:
    assert next_state(LEVELS, 0, None, 999, Q) == (95, 95)


def test_falling_below_re_arms_only_what_it_went_below() -> None:
    # Fell to 90 % (below 95, not 80) and came back to 96 %: 95 again.
    assert next_state(LEVELS, 95, 900, 960, Q) == (95, 95)
    # Fell to 90 % and rose to 93 %: 95 re-armed, 80 still announced.
    assert next_state(LEVELS, 95, 900, 930, Q) == (80, None)
    # Fell to 50 % and rose to 85 %: 80 announced again.
    assert next_state(LEVELS, 95, 500, 850, Q) == (80, 80)
    # Fell to 50 % and stays there: everything re-armed.
    assert next_state(LEVELS, 95, 500, 500, Q) == (0, None)


@pytest.mark.parametrize("quota", [1000, 1_000_000_000])
def test_thresholds_scale_with_the_quota(quota: int) -> None:
    assert next_state(LEVELS, 0, None, quota * 80 // 100, quota) == (80, 80)


def test_a_smaller_quota_after_a_plan_change_crosses_at_once() -> None:
    # 500 bytes used: 5 % of 10 000, 100 % of 500.
    assert next_state(LEVELS, 0, None, 500, 10_000) == (0, None)
    assert next_state(LEVELS, 0, None, 500, 500) == (95, 95)
