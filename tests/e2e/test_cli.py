"""The CLI as an operator uses it: serve with the embedded defaults, migrate, gc, settings."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from imghost.cli.commands import cli
from tests.e2e.service import BIN, ServiceProcess
from tests.factories import image_bytes, make_user, upload_ok


def imghost(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(BIN / "imghost"), *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


def test_serve_embedded_defaults(tmp_path: Path) -> None:
    # No database or storage settings: SQLite and local files under ./data.
    with ServiceProcess(tmp_path) as service, httpx.Client(base_url=service.url) as client:
        page = client.get("/")
        assert page.status_code == 200 and "imghost" in page.text
        assert client.get("/openapi.json").json()["info"]["title"] == "imghost"
        assert client.get("/docs").status_code == 200
        user = make_user(client)
        data = image_bytes("PNG")
        img = upload_ok(client, user, data=data)
        assert img["url"] == f"{service.url}/images/{img['imageId']}"
        assert client.get(f"/images/{img['imageId']}").content == data
    db = tmp_path / "data" / "imghost.db"
    assert db.exists()
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    blobs = list((tmp_path / "data" / "blobs").rglob("original"))
    assert [p.parent.name for p in blobs] == [img["imageId"]]


def in_process(*args: str, env: dict[str, str] | None = None) -> str:
    """`imghost …` in this process (the cwd is the test's): an `imghost`
    process imports the whole service first, 2.6 s of a core."""
    result = CliRunner().invoke(cli, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_migrate_gc_and_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = imghost("migrate", cwd=tmp_path)
    assert "up to date" in out
    assert (tmp_path / "data" / "imghost.db").exists()
    monkeypatch.chdir(tmp_path)
    in_process("migrate")  # idempotent
    assert "GcReport" in in_process("gc")
    out = in_process("settings", env={"IMGHOST_SECRET_KEY": "x" * 40})
    assert "IMGHOST_DATABASE_URL" in out and "x" * 40 not in out


def test_production_refuses_default_secret(tmp_path: Path) -> None:
    env = {**os.environ, "IMGHOST_ENV": "production"}
    env.pop("IMGHOST_SECRET_KEY", None)
    result = subprocess.run(
        [str(BIN / "imghost"), "serve"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "IMGHOST_SECRET_KEY" in result.stdout + result.stderr
