"""The audit log's retention settings, checked at start-up."""

from __future__ import annotations

from imghost.settings import AuditSettings, SettingsError


def check(settings: AuditSettings) -> None:
    """Raise SettingsError for a retention that cannot be used."""
    if settings.audit_retention_days < 1:
        raise SettingsError("IMGHOST_AUDIT_RETENTION_DAYS must be at least 1")
    if not 0 <= settings.audit_pii_retention_days <= settings.audit_retention_days:
        raise SettingsError(
            "IMGHOST_AUDIT_PII_RETENTION_DAYS must be between 0 and IMGHOST_AUDIT_RETENTION_DAYS: "
            "addresses are never kept longer than the events they belong to"
        )
