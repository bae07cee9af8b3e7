"""Migration 0008 puts images deleted before it into the trash; `imghost gc
--dry-run` reports from the command line without changing anything."""

from __future__ import annotations

import datetime as dt

import anyio
import httpx
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from imghost.cli.commands import cli
from imghost.db import create_engine
from imghost.migrate import upgrade
from tests.conftest import LiveServer
from tests.factories import make_user, upload_ok
from tests.helpers.context import with_ctx
from tests.integration.lifecycle.helpers import image_keys

SEED = [
    "INSERT INTO users (id, username, email, password_hash, default_visibility, keep_gps,"
    " created_at, updated_at) VALUES ('u_1', 'ann', 'ann@example.com', 'h', 'public', false,"
    " :now, :now)",
    "INSERT INTO images (id, owner_id, visibility, status, format, mime_type, size, width,"
    " height, frames, sha256, blob_key, created_at, updated_at, deleted_at) VALUES"
    " (:id, 'u_1', 'public', 'ready', 'jpeg', 'image/jpeg', 10, 1, 1, 1, 'ab',"
    " :key, :now, :now, :deleted)",
]


def test_images_deleted_before_0008_enter_the_trash(database: str) -> None:
    upgrade(database, "0007")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    deleted = now - dt.timedelta(days=3)

    async def seed_then_read() -> list[tuple[str, dt.datetime]]:
        engine = create_engine(database)
        try:
            async with engine.begin() as conn:
                for image_id, when in (("img_gone", deleted), ("img_live", None)):
                    for sql in SEED[1:] if image_id == "img_live" else SEED:
                        await conn.execute(
                            text(sql),
                            {
                                "now": now,
                                "id": image_id,
                                "key": f"u_1/{image_id}/original",
                                "deleted": when,
                            },
                        )
            upgrade(database)
            async with engine.connect() as conn:
                rows = await conn.execute(text("SELECT image_id, purge_at FROM trash"))
                return [(str(i), at) for i, at in rows]
        finally:
            await engine.dispose()

    rows = anyio.run(seed_then_read)
    assert len(rows) == 1 and rows[0][0] == "img_gone"
    purge_at = rows[0][1]
    if isinstance(purge_at, str):  # SQLite hands back text through a raw query
        purge_at = dt.datetime.fromisoformat(purge_at)
    if purge_at.tzinfo is None:
        purge_at = purge_at.replace(tzinfo=dt.UTC)
    assert purge_at == deleted + dt.timedelta(days=30)


def test_gc_dry_run_command(
    client: httpx.Client, live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = make_user(client)
    image_id = upload_ok(client, owner)["imageId"]
    stray = f"{owner.user_id}/img_strayccccccccccccccccccccccc/derived/v1/small.jpg"

    async def put(ctx: object) -> None:
        await ctx.store.put_bytes(stray, b"x")  # type: ignore[attr-defined]

    with_ctx(live.settings, put)
    for name in ("database_url", "storage_url", "secret_key", "tmp_dir"):
        monkeypatch.setenv(f"IMGHOST_{name.upper()}", str(getattr(live.settings, name)))
    runner = CliRunner()
    result = runner.invoke(cli, ["gc", "--dry-run", "--grace", "0"])
    assert result.exit_code == 0, result.output
    assert "purges due: 0" in result.output
    assert "orphan blobs (would remove): 1" in result.output and stray in result.output
    assert image_keys(live, owner.user_id, "img_strayccccccccccccccccccccccc") == [stray]

    # An original gone missing: a dangling row, and exit code 1.
    async def lose(ctx: object) -> None:
        await ctx.store.delete(f"{owner.user_id}/{image_id}/original")  # type: ignore[attr-defined]

    with_ctx(live.settings, lose)
    result = runner.invoke(cli, ["gc", "--dry-run", "--grace", "0"])
    assert result.exit_code == 1, result.output
    assert "image rows whose blobs are missing: 1" in result.output and image_id in result.output
    # A real run removes the orphan.
    result = runner.invoke(cli, ["gc", "--grace", "0"])
    assert "orphan blobs (removed): 1" in result.output, result.output
    assert image_keys(live, owner.user_id, "img_strayccccccccccccccccccccccc") == []
