"""The throttle's arithmetic: waits double from 1 s and stop at the cap; the
sign-up limit's setting."""

from __future__ import annotations

import pytest

from imghost.auth.throttle import delay_after, parse_signup_limit
from imghost.checks import check_settings
from imghost.settings import Settings, SettingsError


def test_waits_double_after_the_free_failures_up_to_the_cap() -> None:
    waits = [delay_after(n, free=5, cap=900) for n in range(1, 20)]
    assert waits[:5] == [0, 0, 0, 0, 0]
    assert waits[5:12] == [1, 2, 4, 8, 16, 32, 64]
    assert max(waits) == 900 and waits[-1] == 900
    assert delay_after(10**9, free=5, cap=900) == 900  # no giant integers


def test_signup_limit_setting() -> None:
    item = parse_signup_limit("20/hour")
    assert item is not None and item.amount == 20 and item.get_expiry() == 3600
    assert parse_signup_limit("off") is None and parse_signup_limit("") is None
    with pytest.raises(SettingsError, match="IMGHOST_SIGNUP_RATE_LIMIT"):
        check_settings(Settings(signup_rate_limit="lots"))
    with pytest.raises(SettingsError, match="IMGHOST_LOGIN_MAX_DELAY"):
        check_settings(Settings(login_max_delay=0))
