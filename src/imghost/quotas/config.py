"""The quota settings checked at start-up."""

from __future__ import annotations

from imghost.settings import QuotaSettings, SettingsError


def check(settings: QuotaSettings) -> None:
    """Raise SettingsError naming the first quota setting that cannot be used."""
    if settings.quota_free <= 0 or settings.quota_premium <= 0:
        raise SettingsError("IMGHOST_QUOTA_FREE and IMGHOST_QUOTA_PREMIUM must be positive")
    if settings.bandwidth_free < 0 or settings.bandwidth_premium < 0:
        raise SettingsError(
            "IMGHOST_BANDWIDTH_FREE and IMGHOST_BANDWIDTH_PREMIUM must be 0 (unlimited) or more"
        )
    try:
        settings.quota_warning_levels  # noqa: B018 - parsed here to be refused at start-up
    except ValueError as exc:
        raise SettingsError(f"IMGHOST_QUOTA_WARNINGS: {exc}") from exc
