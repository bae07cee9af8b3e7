"""The trash setting checked at start-up."""

from __future__ import annotations

from imghost.settings import LifecycleSettings, SettingsError

# Far enough for any real retention, near enough that no purge date overflows.
MAX_RETENTION = 100 * 365 * 86400


def check(settings: LifecycleSettings) -> None:
    """Raise SettingsError when the trash retention cannot be used."""
    if not 0 < settings.trash_retention <= MAX_RETENTION:
        raise SettingsError(
            "IMGHOST_TRASH_RETENTION must be a positive number of seconds, at most 100 years"
        )
    if not 0 <= settings.account_deletion_grace <= MAX_RETENTION:
        raise SettingsError(
            "IMGHOST_ACCOUNT_DELETION_GRACE must be 0 or more seconds, at most 100 years"
        )
    if not 0 < settings.export_retention <= MAX_RETENTION:
        raise SettingsError(
            "IMGHOST_EXPORT_RETENTION must be a positive number of seconds, at most 100 years"
        )
    if not 0 < settings.export_link_ttl <= MAX_RETENTION:
        raise SettingsError(
            "IMGHOST_EXPORT_LINK_TTL must be a positive number of seconds, at most 100 years"
        )
