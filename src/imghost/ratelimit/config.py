"""The rate-limit settings checked at start-up: every plan's rules parse."""

from __future__ import annotations

from imghost.ratelimit.rules import parse_rules
from imghost.settings import RateLimitSettings, SettingsError


def check(settings: RateLimitSettings) -> None:
    """Raise SettingsError naming the first rate-limit setting that cannot be used."""
    for plan in ("free", "premium", "anonymous"):
        try:
            parse_rules(getattr(settings, f"rate_limits_{plan}"))
        except ValueError as exc:
            raise SettingsError(f"IMGHOST_RATE_LIMITS_{plan.upper()}: {exc}") from exc
    if settings.redis_url and not settings.redis_url.startswith(("redis://", "rediss://")):
        raise SettingsError("IMGHOST_REDIS_URL must start with redis:// or rediss://")
