"""Quota settings are validated at start-up; sizes are written for people."""

from __future__ import annotations

from typing import Any

import pytest

from imghost.checks import check_settings
from imghost.quotas.plans import kind_of, plan_quota
from imghost.quotas.services import account_of
from imghost.settings import Settings, SettingsError
from imghost.units import human_bytes


def test_defaults() -> None:
    s = Settings()
    assert (s.quota_free, s.quota_premium) == (1_000_000_000, 100_000_000_000)
    assert s.quota_warning_levels == (80, 95)
    assert plan_quota(s, "free") == s.quota_free
    assert plan_quota(s, "premium") == s.quota_premium


def test_sizes_and_levels_from_the_environment() -> None:
    s = Settings.from_env(
        {
            "IMGHOST_QUOTA_FREE": "2GB",
            "IMGHOST_QUOTA_PREMIUM": "500GiB",
            "IMGHOST_QUOTA_WARNINGS": "95, 50,95",
        }
    )
    assert (s.quota_free, s.quota_premium) == (2_000_000_000, 500 * 1024**3)
    assert s.quota_warning_levels == (50, 95)
    assert Settings(quota_warnings="").quota_warning_levels == ()


@pytest.mark.parametrize("value", ["80,x", "0", "101", "-5", "80.5"])
def test_bad_warning_levels_are_refused(value: str) -> None:
    with pytest.raises(SettingsError, match="IMGHOST_QUOTA_WARNINGS"):
        check_settings(Settings(quota_warnings=value))


@pytest.mark.parametrize("name", ["quota_free", "quota_premium"])
def test_quotas_must_be_positive(name: str) -> None:
    overrides: dict[str, Any] = {name: 0}
    with pytest.raises(SettingsError, match="must be positive"):
        check_settings(Settings(**overrides))


def test_human_bytes() -> None:
    assert human_bytes(0) == "0 bytes"
    assert human_bytes(999) == "999 bytes"
    assert human_bytes(1500) == "1.5 kB"
    assert human_bytes(1_234_567) == "1.2 MB"
    # One helper for every message now: a whole unit has no ".0" (was "1.0 GB").
    assert human_bytes(1_000_000_000) == "1 GB"


def test_accounts() -> None:
    assert account_of("u_1", None) == "u_1"
    assert account_of("u_1", "org_2") == "org_2"
    assert (kind_of("u_1"), kind_of("org_2")) == ("user", "org")
