from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import fields

import pytest
import typer

from imghost.app import create_app
from imghost.checks import check_settings, load_settings
from imghost.cli import server_settings as cli_settings
from imghost.settings import DECLARED, Settings, SettingsError, UploadSettings, declared
from imghost.uploads import config as uploads_config


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


def test_every_field_is_declared_once_with_a_parser() -> None:
    names = [s.name for s in DECLARED]
    assert sorted(names) == sorted(f.name for f in fields(Settings))
    assert len(names) == len(set(names))
    assert declared("max_file_size").parse("10MiB") == 10 * 1024**2
    assert declared("run_worker").parse("off") is False
    assert declared("webhook_timeout").parse("2.5") == 2.5
    assert declared("port").default == 8000 and declared("port").variable == "IMGHOST_PORT"
    assert declared("signing_keys").secret and not declared("smtp_url").secret


def test_the_defaults_pass_every_check() -> None:
    assert check_settings(Settings()) == Settings()


def test_choices_are_checked_whoever_builds_the_settings() -> None:
    with pytest.raises(SettingsError, match="IMGHOST_ENV must be development or production"):
        Settings(env="staging")  # type: ignore[arg-type]
    with pytest.raises(SettingsError, match="IMGHOST_DELIVERY must be proxy or redirect"):
        Settings(delivery="teleport")  # type: ignore[arg-type]


def test_a_feature_checks_its_own_section() -> None:
    # A section is a settings object of its own, and Settings is every section.
    assert isinstance(Settings(), UploadSettings)
    uploads_config.check(UploadSettings())
    with pytest.raises(SettingsError, match="IMGHOST_MAX_FRAMES must be positive"):
        uploads_config.check(UploadSettings(max_frames=0))
    with pytest.raises(SettingsError, match="IMGHOST_MAX_FRAMES must be positive"):
        load_settings({"IMGHOST_MAX_FRAMES": "0"})


def test_the_cli_stops_on_a_feature_check_with_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMGHOST_RATE_LIMITS_FREE", "uploads=many/minute")
    with pytest.raises(typer.Exit) as stopped:
        cli_settings.load_settings()
    assert stopped.value.exit_code == 2


def test_create_app_runs_every_check() -> None:
    with pytest.raises(SettingsError, match="IMGHOST_SMTP_URL"):
        create_app(Settings(smtp_url="mail.example.com"))


def test_settings_import_no_feature() -> None:
    # The bottom layer: importing it loads no other imghost module but pure helpers.
    code = (
        "import sys, imghost.settings; "
        "print(sorted(m for m in sys.modules if m.startswith('imghost')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(ast.literal_eval(done.stdout))
    assert loaded == {
        "imghost",
        "imghost.settings",
        "imghost.settings.declare",
        "imghost.settings.egress",
        "imghost.settings.operations",
        "imghost.settings.sections",
        "imghost.settings.security",
        "imghost.keyfile",
        "imghost.proxies",
    }


def test_minimal_password_hash_cost_is_for_tests_only() -> None:
    assert Settings.from_env({}).password_hash_cost == "standard"
    cheap = Settings.from_env({"IMGHOST_PASSWORD_HASH_COST": "minimal"})
    assert cheap.password_hash_cost == "minimal"
    with pytest.raises(SettingsError, match="IMGHOST_PASSWORD_HASH_COST"):
        Settings.from_env({"IMGHOST_PASSWORD_HASH_COST": "cheap"})
    with pytest.raises(SettingsError, match="IMGHOST_PASSWORD_HASH_COST=minimal"):
        load_settings(
            {
                "IMGHOST_ENV": "production",
                "IMGHOST_SECRET_KEY": "k" * 40,
                "IMGHOST_PASSWORD_HASH_COST": "minimal",
            }
        )
