from __future__ import annotations

import pytest

from imghost.settings import DECLARED, Settings, SettingsError


def test_defaults_are_the_embedded_setup() -> None:
    s = Settings.from_env({})
    assert s.database_url.startswith("sqlite+aiosqlite:///./data/")
    assert s.storage_url == "file://./data/blobs"
    assert s.public_base_url == "http://127.0.0.1:8000"
    assert s.max_file_size == 50_000_000 and s.max_batch_size == 200_000_000
    assert s.max_pixels == 100_000_000


def test_env_parsing() -> None:
    s = Settings.from_env(
        {
            "IMGHOST_MAX_FILE_SIZE": "10MiB",
            "IMGHOST_RUN_WORKER": "false",
            "IMGHOST_PORT": "9000",
            "IMGHOST_PUBLIC_BASE_URL": "https://img.example.com/",
        }
    )
    assert s.max_file_size == 10 * 1024 * 1024 and s.run_worker is False
    assert s.port == 9000 and s.public_base_url == "https://img.example.com"
    with pytest.raises(SettingsError, match="IMGHOST_RUN_WORKER"):
        Settings.from_env({"IMGHOST_RUN_WORKER": "maybe"})
    with pytest.raises(SettingsError, match="IMGHOST_PORT"):
        Settings.from_env({"IMGHOST_PORT": "eighty"})
    with pytest.raises(SettingsError):
        Settings.from_env({"IMGHOST_STORAGE_URL": "ftp://x"})
    with pytest.raises(SettingsError):
        Settings.from_env({"IMGHOST_DELIVERY": "teleport"})


def test_production_refuses_placeholder_secret() -> None:
    with pytest.raises(SettingsError, match="IMGHOST_SECRET_KEY"):
        Settings.from_env({"IMGHOST_ENV": "production"})
    with pytest.raises(SettingsError):
        Settings.from_env({"IMGHOST_ENV": "production", "IMGHOST_SECRET_KEY": "short"})
    ok = Settings.from_env({"IMGHOST_ENV": "production", "IMGHOST_SECRET_KEY": "k" * 40})
    assert ok.secret_key == "k" * 40


def test_every_declared_setting_is_a_field_and_described() -> None:
    fields = set(Settings.__dataclass_fields__)
    for setting in DECLARED:
        assert setting.name in fields and setting.help
    rows = Settings(secret_key="s" * 40).describe()
    assert rows[[r[0] for r in rows].index("IMGHOST_SECRET_KEY")][:2] == (
        "IMGHOST_SECRET_KEY",
        "********",
    )


def test_minimal_password_hash_cost_is_for_tests_only() -> None:
    assert Settings.from_env({}).password_hash_cost == "standard"
    cheap = Settings.from_env({"IMGHOST_PASSWORD_HASH_COST": "minimal"})
    assert cheap.password_hash_cost == "minimal"
    with pytest.raises(SettingsError, match="IMGHOST_PASSWORD_HASH_COST"):
        Settings.from_env({"IMGHOST_PASSWORD_HASH_COST": "cheap"})
    with pytest.raises(SettingsError, match="IMGHOST_PASSWORD_HASH_COST=minimal"):
        Settings.from_env(
            {
                "IMGHOST_ENV": "production",
                "IMGHOST_SECRET_KEY": "k" * 40,
                "IMGHOST_PASSWORD_HASH_COST": "minimal",
            }
        )
