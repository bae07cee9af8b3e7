"""Backing up the metadata database (``imghost backup``), and the consistency
rule for taking it with the blob store (docs/OPERATIONS.md, Durability).

SQLite: the online backup API (``sqlite3.Connection.backup``) copies a
consistent snapshot page by page while the service keeps serving (WAL mode:
readers and the writer go on; a write during the copy restarts the pages it
touched). PostgreSQL: ``pg_dump`` in its custom format, one consistent
snapshot of a live database, restored with ``pg_restore``.

The rule: the database first, then the blobs. Every blob a row names was
written before the row committed (uploads store the bytes, then commit the
row; the processing job writes derivatives, then records them), and no blob
is deleted while a row names it (the purge deletes bytes only after it marked
the image, and rows only once the bytes are gone; gc deletes only blobs no
row names and that are older than IMGHOST_GC_GRACE). So a copy of the blobs
taken after the database holds every blob the database copy names; what it
holds beyond them (newer uploads) is unreferenced there, and gc of the
restored copy removes it once older than the grace period.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from imghost.db import is_sqlite, normalize_url

PAGES_PER_STEP = 1024  # 4 MiB at a time: the writer waits at most one step


def sqlite_path(database_url: str) -> Path:
    database = make_url(normalize_url(database_url)).database
    if not database or database == ":memory:":
        raise ValueError("the SQLite database is in memory: nothing to back up")
    return Path(database)


def backup_sqlite(database_url: str, dest: Path) -> int:
    """A consistent copy of a live SQLite database at ``dest`` (written
    beside it and renamed into place, so ``dest`` is never half a copy).
    Returns its size in bytes."""
    source = sqlite_path(database_url)
    if not source.exists():
        raise FileNotFoundError(f"no database at {source}")
    partial = dest.with_name(dest.name + ".partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        out = sqlite3.connect(partial)
        try:
            src.backup(out, pages=PAGES_PER_STEP)
            # A copy that stands alone: no WAL beside it to be lost.
            out.execute("PRAGMA journal_mode=DELETE")
        finally:
            out.close()
    finally:
        src.close()
    partial.replace(dest)
    return dest.stat().st_size


def libpq_url(database_url: str) -> str:
    """The URL pg_dump understands (no SQLAlchemy driver name)."""
    url = make_url(normalize_url(database_url)).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def pg_dump_command(database_url: str, dest: Path) -> list[str]:
    return ["pg_dump", "--format=custom", "--no-owner", f"--file={dest}", libpq_url(database_url)]


def pg_dump_available() -> bool:
    return shutil.which("pg_dump") is not None


def blob_copy_hint(storage_url: str, dest: str) -> str:
    """How to copy the blob store after the database (the command to adapt)."""
    if storage_url.startswith("file://"):
        return f"rsync -a {storage_url[len('file://') :].rstrip('/')}/ {dest}/"
    bucket = storage_url.split("?", 1)[0]
    return f"aws s3 sync {bucket} {dest}  (or: rclone sync)"


__all__ = ["backup_sqlite", "blob_copy_hint", "is_sqlite", "pg_dump_command"]
