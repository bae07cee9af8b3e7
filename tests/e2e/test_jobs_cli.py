"""`imghost jobs list|stats|retry` against a real database."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner, Result

from imghost.cli import commands, jobs
from imghost.context import AppContext
from imghost.jobs import queue
from imghost.migrate import upgrade
from imghost.settings import Settings
from tests.e2e.service import BIN


def cli(*args: str, env: dict[str, str]) -> Result:
    """`imghost jobs …` in this process: each `imghost` process imports the
    whole service (2.6 s of a core); the first command runs as one."""
    return CliRunner().invoke(commands.cli, ["jobs", *args], env=env)


def refused(result: Result) -> bool:
    """Exit 1 by the command's own choice, no traceback (an uncaught error
    would be the result's exception, not SystemExit)."""
    return result.exit_code == 1 and isinstance(result.exception, SystemExit)


def test_jobs_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # In-process, the table is as wide as the console the module made at import
    # (COLUMNS then, 80 when unset): the subprocess's COLUMNS=200 for the rest.
    monkeypatch.setattr(jobs.console, "width", 200)
    db = f"sqlite+aiosqlite:///{tmp_path / 'j.db'}"
    upgrade(db)
    settings = Settings(database_url=db, storage_url=f"file://{tmp_path / 'b'}")

    async def seed() -> str:
        ctx = AppContext.build(settings)
        try:
            async with ctx.sessions() as s:
                job = queue.enqueue(s, "process_image", {"imageId": "img_x"}, max_attempts=1)
                await s.commit()
                [claimed] = await queue.claim(s, "w", 30)
                await queue.fail(s, claimed, "w", "boom")
                await s.commit()
                return job.id
        finally:
            await ctx.close()

    job_id = anyio.run(seed)
    env = {
        **os.environ,
        "IMGHOST_DATABASE_URL": db,
        "IMGHOST_STORAGE_URL": f"file://{tmp_path}/b",
        "IMGHOST_DATA_DIR": str(tmp_path / "data"),  # its generated key, not the cwd's
        "COLUMNS": "200",
    }
    listed = subprocess.run(
        [str(BIN / "imghost"), "jobs", "list", "--status", "dead"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0 and job_id in listed.stdout and "boom" in listed.stdout
    stats = cli("stats", env=env)
    assert stats.exit_code == 0 and "process_image" in stats.stdout
    assert cli("retry", job_id, env=env).exit_code == 0
    again = cli("retry", job_id, env=env)  # now queued: refused, no traceback
    assert refused(again) and "queued" in again.stdout
    assert refused(cli("retry", "job_nope", env=env))
    assert "queued" in cli("list", env=env).stdout
