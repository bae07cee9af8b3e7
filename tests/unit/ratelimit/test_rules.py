"""Parsing of rate-limit rules and the settings that hold them."""

from __future__ import annotations

import pytest

from imghost.checks import check_settings, load_settings
from imghost.ratelimit.rules import parse_rules, parse_size
from imghost.settings import Settings, SettingsError
from imghost.units import human_bytes


def test_parse_plan_rules() -> None:
    rules = parse_rules("uploads=60/minute; upload_bytes=1GB/hour; views=1200/minute")
    assert set(rules) == {"uploads", "upload_bytes", "views"}
    assert (rules["uploads"].item.amount, rules["uploads"].window) == (60, 60)
    assert (rules["upload_bytes"].item.amount, rules["upload_bytes"].window) == (10**9, 3600)
    assert rules["views"].describe_window() == "minute"


def test_parse_counts_and_binary_sizes() -> None:
    rules = parse_rules(" upload_bytes = 2GiB / 5 minutes ;views=10/ 2 hours;")
    assert rules["upload_bytes"].item.amount == 2 * 1024**3
    assert rules["upload_bytes"].window == 300
    assert rules["upload_bytes"].describe_window() == "5 minutes"
    assert rules["views"].window == 7200
    assert parse_rules("uploads=5/DAY")["uploads"].window == 86400


@pytest.mark.parametrize("text", ["", "  ", "off", "none", "OFF"])
def test_no_rules(text: str) -> None:
    assert parse_rules(text) == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("uploads=60", "AMOUNT/PERIOD"),
        ("uploads", "CATEGORY=AMOUNT/PERIOD"),
        ("downloads=5/minute", "unknown category"),
        ("uploads=5/minute; uploads=6/minute", "twice"),
        ("uploads=0/minute", "positive"),
        ("uploads=1.5/minute", "whole number"),
        ("uploads=5/fortnight", "second, minute, hour or day"),
        ("uploads=5/0 minutes", "positive"),
        ("upload_bytes=lots/hour", "not a size"),
        ("upload_bytes=5XB/hour", "not a size"),
    ],
)
def test_bad_rules(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_rules(text)


def test_sizes_and_their_names() -> None:
    assert parse_size("1.5MB") == 1_500_000
    assert parse_size("512 KiB") == 512 * 1024
    assert parse_size("1000") == 1000
    assert human_bytes(10**9) == "1 GB"
    assert human_bytes(20 * 1000**3) == "20 GB"
    assert human_bytes(1024**2) == "1 MiB"
    assert human_bytes(1_234_567) == "1.2 MB"
    assert human_bytes(100) == "100 bytes"


def test_settings_refuse_bad_rules_and_redis_urls() -> None:
    with pytest.raises(SettingsError, match="IMGHOST_RATE_LIMITS_PREMIUM"):
        check_settings(Settings(rate_limits_premium="uploads=many/minute"))
    with pytest.raises(SettingsError, match="IMGHOST_RATE_LIMITS_ANONYMOUS"):
        check_settings(Settings(rate_limits_anonymous="views"))
    with pytest.raises(SettingsError, match="IMGHOST_REDIS_URL"):
        check_settings(Settings(redis_url="http://127.0.0.1:6379"))
    ok = load_settings(
        {
            "IMGHOST_REDIS_URL": "redis://:pw@127.0.0.1:6379/2",
            "IMGHOST_RATE_LIMITS_FREE": "uploads=1/second",
            "IMGHOST_RATE_LIMITS_ENABLED": "no",
        }
    )
    assert ok.rate_limits_enabled is False
    assert parse_rules(ok.rate_limits_free)["uploads"].window == 1
    shown = {name: value for name, value, _ in ok.describe()}
    assert shown["IMGHOST_REDIS_URL"] == "redis://:********@127.0.0.1:6379/2"


def test_defaults_parse() -> None:
    s = Settings()
    free, premium = parse_rules(s.rate_limits_free), parse_rules(s.rate_limits_premium)
    for category in ("uploads", "upload_bytes", "views"):
        assert premium[category].item.amount > free[category].item.amount
    assert set(parse_rules(s.rate_limits_anonymous)) == {"views"}
