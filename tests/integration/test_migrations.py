"""Upgrading a database that has data keeps the data, on both backends.

SQLite's batch mode rebuilds tables by copy-and-drop; with foreign keys
enforced that drop would cascade (rebuilding `users` deleted every image).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import anyio
from sqlalchemy import text

from imghost.db import create_engine
from imghost.migrate import upgrade

SEED = [
    "INSERT INTO users (id, username, email, password_hash, default_visibility, keep_gps,"
    " created_at, updated_at) VALUES ('u_1', 'ann', 'ann@example.com', 'h', 'public', false,"
    " :now, :now)",
    "INSERT INTO images (id, owner_id, visibility, status, format, mime_type, size, width,"
    " height, frames, sha256, blob_key, created_at, updated_at) VALUES ('img_1', 'u_1',"
    " 'public', 'ready', 'jpeg', 'image/jpeg', 10, 1, 1, 1, 'ab', 'u_1/img_1/original',"
    " :now, :now)",
    "INSERT INTO image_tags (image_id, tag, position) VALUES ('img_1', 'summer', 0)",
]
COUNTS = {"users": 1, "images": 1}


def _run(url: str, statements: list[str], params: dict[str, Any]) -> dict[str, int]:
    async def main() -> dict[str, int]:
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                for sql in statements:
                    await conn.execute(text(sql), params)
                return {
                    table: int(
                        (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
                    )
                    for table in COUNTS
                }
        finally:
            await engine.dispose()

    return anyio.run(main)


def test_upgrading_from_the_first_revision_keeps_every_row(database: str) -> None:
    upgrade(database, "0001")
    now = dt.datetime.now(dt.UTC)
    assert _run(database, SEED, {"now": now}) == COUNTS
    upgrade(database)
    assert _run(database, [], {}) == COUNTS
    # The tag rows got their copies of the image's sort keys, and the triggers
    # that keep them exist at head (an SQLite batch rebuild would drop them).
    listed = "SELECT count(*) FROM image_tags WHERE owner_id = 'u_1' AND listed"
    assert _scalar(database, listed) == 1
    # The same for the text index row (0011).
    text_listed = (
        "SELECT count(*) FROM image_search WHERE owner_id = 'u_1' AND listed"
        " AND created_at IS NOT NULL"
    )
    assert _scalar(database, text_listed) == 1
    _run(database, ["UPDATE images SET visibility = 'private'"], {})
    assert _scalar(database, listed) == 0
    assert _scalar(database, text_listed) == 0
    # A text row written without the copies (an older release during a
    # rolling upgrade) gets them from the image.
    second_image = SEED[1].replace("img_1", "img_2").replace("'private'", "'public'")
    text_row = (
        "INSERT INTO image_search (image_id, title) VALUES ('img_2', 'x')"
        if database.startswith("sqlite")
        else "INSERT INTO image_search (image_id, document) VALUES ('img_2', to_tsvector('x'))"
    )
    _run(database, [second_image, text_row], {"now": now})
    assert _scalar(database, text_listed) == 1
    _run(
        database,
        ["INSERT INTO image_tags (image_id, tag, position) VALUES ('img_1', 'winter', 1)"],
        {},
    )
    fresh = "SELECT count(*) FROM image_tags WHERE tag = 'winter' AND created_at IS NOT NULL"
    assert _scalar(database, fresh) == 1


def _scalar(url: str, sql: str) -> int:
    async def main() -> int:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return int((await conn.execute(text(sql))).scalar() or 0)
        finally:
            await engine.dispose()

    return anyio.run(main)
