"""`imghost backup DEST`: a consistent copy of the metadata database, taken
while the service runs. SQLite through the online backup API; PostgreSQL by
``pg_dump`` (run when it is on PATH, else printed). The blob store is copied
after it, by the operator's tool (rsync, aws s3 sync, rclone): the command
prints the one to adapt. docs/OPERATIONS.md, Durability, says why the
database comes first and how to restore."""

from __future__ import annotations

import subprocess
from pathlib import Path

import typer
from rich.console import Console

from imghost.cli.server_settings import load_settings
from imghost.maintenance import backup as backups

console = Console()


def backup(
    dest: Path = typer.Argument(..., help="File to write the database copy to"),
) -> None:
    """Back up the metadata database while serving (then copy the blobs)."""
    settings = load_settings()
    if dest.exists():
        console.print(f"[red]{dest} exists:[/red] give a new file name.")
        raise typer.Exit(2)
    if backups.is_sqlite(settings.database_url):
        size = backups.backup_sqlite(settings.database_url, dest)
        console.print(f"database copied to {dest} ({size:,} bytes, SQLite online backup)")
    else:
        command = backups.pg_dump_command(settings.database_url, dest)
        if not backups.pg_dump_available():
            console.print("pg_dump is not on PATH; run it where it is (custom format):")
            console.print("  pg_dump --format=custom --no-owner --file=DEST DATABASE_URL")
            raise typer.Exit(1)
        done = subprocess.run(command, check=False)
        if done.returncode != 0:
            raise typer.Exit(done.returncode)
        console.print(f"database dumped to {dest} (pg_dump, custom format)")
    console.print("Now copy the blob store (after the database, never before):", soft_wrap=True)
    console.print(
        f"  {backups.blob_copy_hint(settings.storage_url, 'BACKUP/blobs')}",
        soft_wrap=True,
        highlight=False,
    )
    console.print(
        "Keep the secret key (IMGHOST_SECRET_KEY or IMGHOST_DATA_DIR/secret_key) with the backup.",
        soft_wrap=True,
    )
