"""The e-mail and webhook settings checked at start-up."""

from __future__ import annotations

from imghost.notifications.smtp_url import parse_smtp_url
from imghost.settings import NotificationSettings, SettingsError


def check(settings: NotificationSettings) -> None:
    """Raise SettingsError naming the first notification setting that cannot be used."""
    if settings.smtp_url:
        try:
            parse_smtp_url(settings.smtp_url)
        except ValueError as exc:
            raise SettingsError(f"IMGHOST_SMTP_URL {exc}") from exc
    if "@" not in settings.mail_from:
        raise SettingsError("IMGHOST_MAIL_FROM must be an e-mail address")
    if not 0 < settings.webhook_timeout < float("inf"):
        raise SettingsError("IMGHOST_WEBHOOK_TIMEOUT must be a positive number")
    if not 0 < settings.webhook_retry_base < float("inf"):
        raise SettingsError("IMGHOST_WEBHOOK_RETRY_BASE must be a positive number")
    if settings.webhook_max_attempts < 1:
        raise SettingsError("IMGHOST_WEBHOOK_MAX_ATTEMPTS must be at least 1")
