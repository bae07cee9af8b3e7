"""The generated secret key: created once, owner-only, the same for every process."""

from __future__ import annotations

import multiprocessing
import stat
from pathlib import Path
from typing import Any

import pytest

from imghost.keyfile import FILENAME, KeyFileError, load_or_create
from imghost.settings import Settings, SettingsError

# What `IMGHOST_SECRET_KEY` defaulted to before: published, so never again a key.
OLD_PLACEHOLDER = "change-me-insecure-development-secret"


def test_first_use_creates_an_owner_only_key_and_later_uses_read_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    key = load_or_create(data)
    path = data / FILENAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) >= 64 and key != OLD_PLACEHOLDER
    assert load_or_create(data) == key
    assert list(data.iterdir()) == [path]  # no temporary file left behind
    assert load_or_create(tmp_path / "other") != key


def _race(
    data: str, barrier: multiprocessing.synchronize.Barrier, out: multiprocessing.Queue[str]
) -> None:
    barrier.wait()
    out.put(load_or_create(data))


def test_concurrent_first_starts_agree_on_one_key(tmp_path: Path) -> None:
    racers = 8
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(racers)
    out: multiprocessing.Queue[str] = ctx.Queue()
    procs = [ctx.Process(target=_race, args=(str(tmp_path), barrier, out)) for _ in range(racers)]
    for proc in procs:
        proc.start()
    keys = {out.get(timeout=30) for _ in procs}
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0
    assert keys == {(tmp_path / FILENAME).read_text().strip()}
    assert [p.name for p in tmp_path.iterdir()] == [FILENAME]


def test_an_empty_or_unwritable_key_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / FILENAME).write_text("\n")
    with pytest.raises(KeyFileError, match="no usable key"):
        load_or_create(tmp_path)
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(KeyFileError, match="IMGHOST_SECRET_KEY"):
        load_or_create(blocked / "data")


def test_settings_without_a_key_use_the_generated_one(tmp_path: Path) -> None:
    first = Settings(data_dir=str(tmp_path))
    assert first.secret_key == (tmp_path / FILENAME).read_text().strip()
    assert first.secret_key != OLD_PLACEHOLDER
    assert Settings.from_env({"IMGHOST_DATA_DIR": str(tmp_path)}).secret_key == first.secret_key
    # The embedded defaults live under the data directory too.
    assert first.database_url == f"sqlite+aiosqlite:///{tmp_path}/imghost.db"
    assert first.storage_url == f"file://{tmp_path}/blobs"
    assert not any("secret" in row[1] or first.secret_key in row[1] for row in first.describe())


@pytest.mark.parametrize(
    "overrides",
    [
        {"database_url": "postgresql://u:p@127.0.0.1:5432/imghost"},
        {"storage_url": "s3://bucket?endpoint=http://127.0.0.1:9000"},
        {"env": "production"},
    ],
)
def test_shared_backends_and_production_refuse_to_start_without_a_key(
    tmp_path: Path, overrides: dict[str, str]
) -> None:
    with pytest.raises(SettingsError, match=r"IMGHOST_SECRET_KEY must be set.*openssl rand"):
        Settings(data_dir=str(tmp_path), **overrides)  # type: ignore[arg-type]
    assert not (tmp_path / FILENAME).exists()
    Settings(data_dir=str(tmp_path), secret_key="k" * 40, **overrides)  # type: ignore[arg-type]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "img.example.com"])
def test_a_public_bind_needs_an_explicit_key_and_base_url(tmp_path: Path, host: str) -> None:
    key = "k" * 40
    base = "https://img.example.com"
    partials: list[dict[str, Any]] = [{}, {"secret_key": key}, {"public_base_url": base}]
    for partial in partials:
        with pytest.raises(SettingsError) as refused:
            Settings(data_dir=str(tmp_path), host=host, **partial)
        message = str(refused.value)
        assert "IMGHOST_SECRET_KEY" in message and "IMGHOST_PUBLIC_BASE_URL" in message
    ok = Settings(data_dir=str(tmp_path), host=host, secret_key=key, public_base_url=base)
    assert ok.secret_key == key


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_a_loopback_bind_may_use_the_generated_key(tmp_path: Path, host: str) -> None:
    assert Settings(data_dir=str(tmp_path), host=host).secret_key


def test_a_short_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="at least 32"):
        Settings(data_dir=str(tmp_path), secret_key="short")
