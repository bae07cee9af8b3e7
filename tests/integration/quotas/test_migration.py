"""Migrations 0007 (images that exist before it are counted) and 0012
(renditions made on request leave the quota), on both backends."""

from __future__ import annotations

import datetime as dt
from typing import Any

import anyio
from sqlalchemy import text

from imghost.db import create_engine
from imghost.migrate import upgrade

SEED = [
    "INSERT INTO users (id, username, email, password_hash, default_visibility, keep_gps,"
    " is_admin, created_at, updated_at) VALUES"
    " ('u_1', 'ann', 'ann@example.com', 'h', 'public', false, false, :now, :now),"
    " ('u_2', 'bob', 'bob@example.com', 'h', 'public', false, false, :now, :now)",
    "INSERT INTO orgs (id, name, created_by, created_at) VALUES ('org_1', 'T', 'u_1', :now)",
    "INSERT INTO images (id, owner_id, org_id, visibility, status, format, mime_type, size,"
    " width, height, frames, sha256, blob_key, public_blob_key, public_size, keep_gps,"
    " view_count, created_at, updated_at) VALUES"
    " ('img_1', 'u_1', NULL, 'public', 'ready', 'jpeg', 'image/jpeg', 100, 1, 1, 1, 'a',"
    "  'u_1/img_1/original', 'u_1/img_1/derived/v1/original-nogps', 90, false, 0, :now, :now),"
    " ('img_2', 'u_1', NULL, 'public', 'ready', 'jpeg', 'image/jpeg', 200, 1, 1, 1, 'b',"
    "  'u_1/img_2/original', NULL, NULL, false, 0, :now, :now),"
    " ('img_3', 'u_2', 'org_1', 'public', 'ready', 'jpeg', 'image/jpeg', 400, 1, 1, 1, 'c',"
    "  'u_2/img_3/original', NULL, NULL, false, 0, :now, :now)",
]
USAGE = (
    "SELECT account_id, kind, originals_bytes, derivatives_bytes, reserved_bytes, images"
    " FROM storage_usage ORDER BY account_id"
)


def _run(url: str, statements: list[str], query: str | None = None) -> list[Any]:
    async def main() -> list[Any]:
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                for sql in statements:
                    await conn.execute(text(sql), {"now": dt.datetime.now(dt.UTC)})
                if query is None:
                    return []
                return [tuple(row) for row in await conn.execute(text(query))]
        finally:
            await engine.dispose()

    return anyio.run(main)


def test_existing_images_are_counted_against_their_accounts(database: str) -> None:
    upgrade(database, "0006")
    _run(database, SEED)
    upgrade(database, "0007")
    assert _run(database, [], USAGE) == [
        ("org_1", "org", 400, 0, 0, 1),
        ("u_1", "user", 300, 90, 0, 2),
    ]
    plans = _run(database, [], "SELECT plan FROM users UNION ALL SELECT plan FROM orgs")
    assert plans == [("free",), ("free",), ("free",)]
    # And the rest of the chain still applies on top.
    upgrade(database)
    assert len(_run(database, [], USAGE)) == 2


CACHED = [
    # img_1 (u_1): a transform and an AVIF preset made on request, a
    # pre-generated preset; img_3 (org_1): a transform.
    "INSERT INTO quota_blobs (blob_key, image_id, account_id, kind, bytes) VALUES"
    " ('u_1/img_1/derived/v1/t/w_20,c_inside,q_82.png', 'img_1', 'u_1', 'derivative', 7),"
    " ('u_1/img_1/derived/v1/thumb.avif', 'img_1', 'u_1', 'derivative', 5),"
    " ('u_1/img_1/derived/v1/thumb.jpg', 'img_1', 'u_1', 'derivative', 3),"
    " ('u_2/img_3/derived/v1/t/w_9,c_inside,q_82.jpg', 'img_3', 'org_1', 'derivative', 11)",
    "UPDATE storage_usage SET derivatives_bytes = derivatives_bytes + 15 WHERE account_id = 'u_1'",
    "UPDATE storage_usage SET derivatives_bytes = derivatives_bytes + 11"
    " WHERE account_id = 'org_1'",
]


def test_renditions_made_on_request_leave_the_quota_for_the_cache(database: str) -> None:
    """0012: transforms and AVIF presets counted before move to the rendition
    cache and out of the accounts' usage; pre-generated presets stay counted."""
    upgrade(database, "0006")
    _run(database, SEED)
    upgrade(database, "0011")
    _run(database, CACHED)
    upgrade(database, "0012")
    assert _run(database, [], USAGE) == [
        ("org_1", "org", 400, 0, 0, 1),
        ("u_1", "user", 300, 93, 0, 2),
    ]
    counted = "SELECT blob_key FROM quota_blobs WHERE kind = 'derivative' ORDER BY blob_key"
    assert _run(database, [], counted) == [
        ("u_1/img_1/derived/v1/original-nogps",),
        ("u_1/img_1/derived/v1/thumb.jpg",),
    ]
    cached = "SELECT blob_key, image_id, account_id, bytes FROM renditions ORDER BY blob_key"
    assert _run(database, [], cached) == [
        ("u_1/img_1/derived/v1/t/w_20,c_inside,q_82.png", "img_1", "u_1", 7),
        ("u_1/img_1/derived/v1/thumb.avif", "img_1", "u_1", 5),
        ("u_2/img_3/derived/v1/t/w_9,c_inside,q_82.jpg", "img_3", "org_1", 11),
    ]
