"""The replica settings' start-up checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from imghost.checks import check_settings
from imghost.settings import Settings, SettingsError

PG = "postgresql://imghost:pw@db.internal:5432/imghost"
REPLICA = "postgresql://imghost:pw@replica.internal:5432/imghost"


def _settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(data_dir=str(tmp_path), secret_key="k" * 40, **values)


def test_replicas_need_postgresql(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="needs PostgreSQL"):
        check_settings(_settings(tmp_path, database_replica_urls=REPLICA))


def test_every_replica_is_a_postgresql_url(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path, database_url=PG, database_replica_urls=f"{REPLICA}, sqlite:///x.db"
    )
    with pytest.raises(SettingsError, match="postgresql://"):
        check_settings(settings)


def test_the_sticky_window_covers_the_lag_bound(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        database_url=PG,
        database_replica_urls=REPLICA,
        replica_max_lag=10,
        replica_sticky_seconds=5,
    )
    with pytest.raises(SettingsError, match="IMGHOST_REPLICA_STICKY_SECONDS must be at least"):
        check_settings(settings)


def test_the_defaults_pass(tmp_path: Path) -> None:
    check_settings(_settings(tmp_path, database_url=PG, database_replica_urls=REPLICA))
    # Without replicas the other replica settings are not looked at.
    check_settings(_settings(tmp_path, replica_max_lag=100))
