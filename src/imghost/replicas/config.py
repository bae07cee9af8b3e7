"""The replica settings checked at start-up."""

from __future__ import annotations

from imghost.db import is_sqlite
from imghost.settings import ReplicaSettings, Settings, SettingsError


def replica_urls(settings: ReplicaSettings) -> list[str]:
    return [u.strip() for u in settings.database_replica_urls.split(",") if u.strip()]


def check(settings: Settings) -> None:
    """Raise SettingsError naming the first replica setting that cannot be used."""
    urls = replica_urls(settings)
    if not urls:
        return
    if is_sqlite(settings.database_url):
        raise SettingsError(
            "IMGHOST_DATABASE_REPLICA_URLS needs PostgreSQL: IMGHOST_DATABASE_URL is "
            "SQLite, which has no replicas (unset IMGHOST_DATABASE_REPLICA_URLS)"
        )
    for url in urls:
        if not url.startswith(("postgresql://", "postgres://", "postgresql+asyncpg://")):
            raise SettingsError(
                "IMGHOST_DATABASE_REPLICA_URLS: every replica must be a postgresql:// URL"
            )
    if settings.replica_max_lag < 0:
        raise SettingsError("IMGHOST_REPLICA_MAX_LAG must be 0 or more seconds")
    for name in ("replica_lag_check", "replica_timeout"):
        if getattr(settings, name) <= 0:
            raise SettingsError(f"IMGHOST_{name.upper()} must be more than 0 seconds")
    # A replica serves reads while its lag, measured at most replica_lag_check
    # ago, was within replica_max_lag: what it shows is at most their sum old.
    # A writer kept on the primary for longer than that reads its writes anywhere.
    floor = settings.replica_max_lag + settings.replica_lag_check
    if settings.replica_sticky_seconds < floor:
        raise SettingsError(
            f"IMGHOST_REPLICA_STICKY_SECONDS must be at least IMGHOST_REPLICA_MAX_LAG + "
            f"IMGHOST_REPLICA_LAG_CHECK ({floor:g} s), or a writer could read a replica "
            "that has not yet replayed their write"
        )
