"""The report settings checked at start-up."""

from __future__ import annotations

from imghost.auth.throttle import parse_signup_limit
from imghost.settings import ReportSettings, SettingsError


def check(settings: ReportSettings) -> None:
    try:
        parse_signup_limit(settings.report_rate_limit)
    except ValueError as exc:
        raise SettingsError(f"IMGHOST_REPORT_RATE_LIMIT: {exc}") from exc
