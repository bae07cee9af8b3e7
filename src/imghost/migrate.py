"""Apply Alembic migrations programmatically (used by `imghost migrate` and serve)."""

from __future__ import annotations

import functools
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from imghost.db import ensure_sqlite_dir, normalize_url
from imghost.ops.services import Revisions

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalize_url(database_url).replace("%", "%%"))
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Upgrade the database; safe to call from inside a running event loop."""
    ensure_sqlite_dir(database_url)
    cfg = alembic_config(database_url)
    # env.py uses asyncio.run, which cannot nest in a running loop: use a thread.
    error: list[BaseException] = []

    def _run() -> None:
        try:
            command.upgrade(cfg, revision)
        except BaseException as exc:
            error.append(exc)

    worker = threading.Thread(target=_run)
    worker.start()
    worker.join()
    if error:
        raise error[0]


@functools.cache
def revisions() -> Revisions:
    """This release's migration head and every revision it knows (read from the
    scripts once per process: readiness compares the database's with them)."""
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return Revisions(
        head=str(scripts.get_current_head()),
        known=frozenset(script.revision for script in scripts.walk_revisions()),
    )
