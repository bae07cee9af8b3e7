"""`imghost keys new | rotate | encrypt-existing`: the keys that encrypt blobs
at rest (IMGHOST_ENCRYPTION_KEYS), and the jobs that bring stored blobs under
the current one (``maintenance.keys``)."""

from __future__ import annotations

import asyncio
import secrets

import typer
from rich.console import Console

from imghost.cli.server_settings import load_settings
from imghost.context import AppContext
from imghost.maintenance import keys as blob_keys
from imghost.storage.encrypted import EncryptedBlobStore
from imghost.storage.keys import new_key

keys_cli = typer.Typer(help="Encryption at rest: keys, rotation, migration.", no_args_is_help=True)
console = Console()


@keys_cli.command("new")
def new(kid: str = typer.Option("", help="The key's id (default: a random one)")) -> None:
    """Print a new key-encryption key as KID:BASE64KEY. Put it first in
    IMGHOST_ENCRYPTION_KEYS (keeping the old ones after it), restart, then run
    `imghost keys rotate`."""
    print(f"{kid or 'k' + secrets.token_hex(4)}:{new_key()}")


@keys_cli.command("rotate")
def rotate() -> None:
    """Queue jobs that wrap every blob's data key under the first key of
    IMGHOST_ENCRYPTION_KEYS (72 bytes of header per blob; the data stays).
    Safe to run again: blobs done already are skipped."""
    _queue("rotate")


@keys_cli.command("encrypt-existing")
def encrypt_existing() -> None:
    """Queue jobs that encrypt, in place, every blob stored before encryption
    was turned on. The service keeps serving; safe to interrupt and run again."""
    _queue("encrypt")


def _queue(op: blob_keys.Op) -> None:
    settings = load_settings()

    async def _main() -> int:
        ctx = AppContext.build(settings)
        try:
            if not isinstance(ctx.store, EncryptedBlobStore):
                console.print("[red]IMGHOST_ENCRYPTION_KEYS is not set:[/red] nothing to do.")
                raise typer.Exit(2)
            queued = 0
            async for batch in blob_keys.blob_keys(ctx.store):
                async with ctx.sessions() as session:
                    blob_keys.enqueue(session, op, batch, settings.job_max_attempts)
                    await session.commit()
                queued += len(batch)
            return queued
        finally:
            await ctx.close()

    count = asyncio.run(_main())
    console.print(f"{count} blobs queued ({blob_keys.BLOB_KEYS} jobs, {op}); workers run them.")
