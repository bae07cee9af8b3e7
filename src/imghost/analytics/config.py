"""The view-count setting checked at start-up."""

from __future__ import annotations

from imghost.settings import AnalyticsSettings, SettingsError


def check(settings: AnalyticsSettings) -> None:
    """Raise SettingsError when the flush interval cannot be used."""
    if not 0 < settings.analytics_flush_interval < float("inf"):  # also refuses NaN
        raise SettingsError("IMGHOST_ANALYTICS_FLUSH_INTERVAL must be a positive number")
