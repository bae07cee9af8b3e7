"""Upgrading a database that has data keeps the data, on both backends.

SQLite's batch mode rebuilds tables by copy-and-drop; with foreign keys
enforced that drop would cascade (rebuilding `users` deleted every image).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import anyio
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from imghost.db import create_engine
from imghost.migrate import alembic_config, upgrade

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


def test_0014_backfills_image_versions(database: str) -> None:
    """Originals and GPS-free copies from `images`, the eight presets of each
    ready image (sizes from `quota_blobs` where recorded, hash and dimensions
    left to the maintenance pass); a downgrade drops the table."""
    upgrade(database, "0012")
    now = dt.datetime.now(dt.UTC)
    image = SEED[1].replace("'ready'", ":status").replace("'img_1'", ":id")
    image = image.replace("'u_1/img_1/original'", ":key")
    seed = [
        SEED[0],
        *[
            text_with(image, id=i, status=s, key=f"u_1/{i}/original")
            for i, s in (("img_r", "ready"), ("img_p", "processing"))
        ],
        "UPDATE images SET public_blob_key = 'u_1/img_r/derived/v1/original-nogps',"
        " public_sha256 = 'cd', public_size = 9 WHERE id = 'img_r'",
        "INSERT INTO quota_blobs (blob_key, image_id, account_id, kind, bytes) VALUES"
        " ('u_1/img_r/derived/v1/small.webp', 'img_r', 'u_1', 'derivative', 1234)",
    ]
    _run(database, seed, {"now": now})
    upgrade(database)
    rows = _rows(
        database,
        "SELECT image_id, kind, name, format, width, height, size, sha256, blob_key"
        " FROM image_versions ORDER BY image_id, kind, blob_key",
    )
    originals = [r for r in rows if r[1] == "original"]
    assert originals == [
        ("img_p", "original", "original", "jpeg", 1, 1, 10, "ab", "u_1/img_p/original"),
        ("img_r", "original", "original", "jpeg", 1, 1, 10, "ab", "u_1/img_r/original"),
    ]
    assert [r for r in rows if r[1] == "gps_free"] == [
        (
            "img_r",
            "gps_free",
            "original",
            "jpeg",
            1,
            1,
            9,
            "cd",
            "u_1/img_r/derived/v1/original-nogps",
        )
    ]
    presets = {r[8]: r for r in rows if r[1] == "preset"}
    assert len(presets) == 8 and {r[0] for r in presets.values()} == {"img_r"}
    small = presets["u_1/img_r/derived/v1/small.webp"]
    assert small[2:8] == ("small", "webp", None, None, 1234, None)
    assert presets["u_1/img_r/derived/v1/thumb.jpg"][2:8] == ("thumb", "jpeg", None, None, 0, None)

    command.downgrade(alembic_config(database), "0012")  # no loop runs here
    assert "image_versions" not in _tables(database)
    upgrade(database)
    assert _scalar(database, "SELECT count(*) FROM image_versions") == len(rows)


def text_with(sql: str, **values: str) -> str:
    for name, value in values.items():
        sql = sql.replace(f":{name}", f"'{value}'")
    return sql


def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    async def main() -> list[tuple[Any, ...]]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return [tuple(r) for r in await conn.execute(text(sql))]
        finally:
            await engine.dispose()

    return anyio.run(main)


def _tables(url: str) -> set[str]:
    async def main() -> set[str]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        finally:
            await engine.dispose()

    return anyio.run(main)


SCAN_VERDICT = "0017_scan_verdict"
# One image in each state processing could leave (before 0017), keyed by id:
# (status, status_reason, public_blob_key, keep_gps).
STATES = {
    "img_ready": ("ready", None, None, False),
    "img_gps": ("ready", None, "u_1/img_gps/derived/v1/original-nogps", False),
    "img_kept": ("ready", None, None, True),
    "img_quarantined": ("quarantined", "PHP code (<?php)", None, False),
    "img_failed": ("failed", "processing failed: OSError: boom", None, False),
    "img_processing": ("processing", None, None, False),
}


def _columns(url: str) -> dict[str, tuple[Any, ...]]:
    async def main() -> dict[str, tuple[Any, ...]]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    text(
                        "SELECT id, scan_status, scan_reason, original_gps, failed_step,"
                        " failed_code FROM images"
                    )
                )
                return {r[0]: tuple(r[1:]) for r in rows}
        finally:
            await engine.dispose()

    return anyio.run(main)


def test_scan_verdict_backfills_from_the_status_and_downgrades(database: str) -> None:
    cfg = alembic_config(database)
    before = ScriptDirectory.from_config(cfg).get_revision(SCAN_VERDICT).down_revision
    assert isinstance(before, str)
    upgrade(database, before)
    seed = [SEED[0]]
    params: dict[str, Any] = {"now": dt.datetime.now(dt.UTC)}
    for image_id, (status, reason, public, keep) in STATES.items():
        params |= {f"r_{image_id}": reason, f"p_{image_id}": public, f"k_{image_id}": keep}
        seed.append(
            "INSERT INTO images (id, owner_id, visibility, status, status_reason, format,"
            " mime_type, size, width, height, frames, sha256, blob_key, public_blob_key,"
            f" keep_gps, created_at, updated_at) VALUES ('{image_id}', 'u_1', 'public',"
            f" '{status}', :r_{image_id}, 'jpeg', 'image/jpeg', 10, 1, 1, 1, 'ab',"
            f" 'u_1/{image_id}/original', :p_{image_id}, :k_{image_id}, :now, :now)"
        )
    _run(database, seed, params)
    upgrade(database, SCAN_VERDICT)
    got = _columns(database)
    assert got["img_ready"] == ("passed", None, False, None, None)
    assert got["img_gps"] == ("passed", None, True, None, None)
    assert got["img_kept"] == ("passed", None, None, None, None)  # opted in: never asked
    assert got["img_quarantined"] == ("refused", "PHP code (<?php)", None, None, None)
    # Whether the scan ran before the failure is not stored: conservatively unknown.
    assert got["img_failed"] == ("pending", None, None, None, None)
    assert got["img_processing"] == ("pending", None, None, None, None)
    # A row written by an older release (no scan_status given) gets the default.
    _run(database, [SEED[1].replace("img_1", "img_old")], params)
    assert _columns(database)["img_old"][0] == "pending"
    tagged = "INSERT INTO image_tags (image_id, tag, position) VALUES ('img_ready', 'x', 0)"
    _run(database, [tagged], {})
    listed = "SELECT count(*) FROM image_tags WHERE tag = 'x' AND listed"
    assert _scalar(database, listed) == 1
    command.downgrade(cfg, before)
    assert _run(database, [], {}) == {"users": 1, "images": len(STATES) + 1}
    columns = (
        "SELECT count(*) FROM pragma_table_info('images') WHERE name = 'scan_status'"
        if database.startswith("sqlite")
        else "SELECT count(*) FROM information_schema.columns"
        " WHERE table_name = 'images' AND column_name = 'scan_status'"
    )
    assert _scalar(database, columns) == 0
    # The listing triggers survived both ways (no batch rebuild of `images`).
    _run(database, ["UPDATE images SET visibility = 'private' WHERE id = 'img_ready'"], {})
    assert _scalar(database, listed) == 0
    upgrade(database)
    assert _columns(database)["img_ready"][0] == "passed"


def test_0019_adds_account_deletion_and_exports_and_downgrades(database: str) -> None:
    """The tombstone columns on `users` (plain ALTER TABLE: no rebuild that would
    cascade into the user's rows) and `data_exports`; a downgrade of this one step
    removes them and keeps every row, wherever the lead chains it."""
    upgrade(database)
    now = dt.datetime.now(dt.UTC)
    _run(database, SEED, {"now": now})
    _run(
        database,
        [
            "UPDATE users SET delete_after = :now WHERE id = 'u_1'",
            "INSERT INTO data_exports (id, user_id, status, blob_key, created_at)"
            " VALUES ('exp_1', 'u_1', 'pending', 'exports/u_1/exp_1.zip', :now)",
        ],
        {"now": now},
    )
    assert _scalar(database, "SELECT count(*) FROM users WHERE delete_after IS NOT NULL") == 1
    # To the revision 0019 revises: later ones (chained after it) go first.
    cfg = alembic_config(database)
    before = ScriptDirectory.from_config(cfg).get_revision("0019_account_deletion").down_revision
    assert isinstance(before, str)
    command.downgrade(cfg, before)
    assert "data_exports" not in _tables(database)
    assert _run(database, [], {}) == COUNTS
    upgrade(database)
    assert _scalar(database, "SELECT count(*) FROM users WHERE delete_after IS NULL") == 1
    assert "data_exports" in _tables(database)


def _column_names(url: str, table: str) -> set[str]:
    async def main() -> set[str]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                found = await conn.run_sync(lambda c: inspect(c).get_columns(table))
                return {column["name"] for column in found}
        finally:
            await engine.dispose()

    return anyio.run(main)


def test_0020_adds_grant_expiry_and_downgrades(database: str) -> None:
    """Nullable expiry columns on both grant tables and on pending shares (plain
    ALTER TABLE): existing grants keep lasting until revoked, and a downgrade of
    this one step drops the columns and keeps every grant."""
    upgrade(database)
    now = dt.datetime.now(dt.UTC)
    _run(
        database,
        [
            *SEED,
            "INSERT INTO users (id, username, email, password_hash, default_visibility,"
            " keep_gps, created_at, updated_at) VALUES ('u_2', 'bob', 'bob@example.com', 'h',"
            " 'public', false, :now, :now)",
            "INSERT INTO image_collaborators (image_id, user_id, permission, created_at,"
            " expires_at) VALUES ('img_1', 'u_2', 'view', :now, :now)",
        ],
        {"now": now},
    )
    grants = "SELECT count(*) FROM image_collaborators"
    cfg = alembic_config(database)
    before = ScriptDirectory.from_config(cfg).get_revision("0020_grant_expiry").down_revision
    assert isinstance(before, str)
    command.downgrade(cfg, before)
    for table in ("image_collaborators", "album_collaborators"):
        assert "expires_at" not in _column_names(database, table)
    assert "grant_expires_at" not in _column_names(database, "pending_shares")
    assert _scalar(database, grants) == 1
    upgrade(database)
    assert _scalar(database, f"{grants} WHERE expires_at IS NULL") == 1
    assert "grant_expires_at" in _column_names(database, "pending_shares")


def test_0021_adds_the_malware_verdict_and_job_deferrals_and_downgrades(database: str) -> None:
    """Plain ALTER TABLE both ways: rows kept, the listing triggers of `images`
    still there after a downgrade of this one step (wherever the lead chains it)."""
    upgrade(database)
    now = dt.datetime.now(dt.UTC)
    _run(database, SEED, {"now": now})
    _run(
        database,
        [
            "UPDATE images SET malware_scan = 'infected', malware_signature = 'Eicar'"
            " WHERE id = 'img_1'",
            "INSERT INTO jobs (id, kind, payload, status, attempts, max_attempts, run_at,"
            " created_at, updated_at) VALUES ('job_1', 'rescan_image', '{}', 'queued', 0, 5,"
            " :now, :now, :now)",
        ],
        {"now": now},
    )
    assert _scalar(database, "SELECT deferrals FROM jobs WHERE id = 'job_1'") == 0
    cfg = alembic_config(database)
    before = ScriptDirectory.from_config(cfg).get_revision("0021_quarantine").down_revision
    assert isinstance(before, str)
    command.downgrade(cfg, before)
    assert "malware_scan" not in _column_names(database, "images")
    assert "deferrals" not in _column_names(database, "jobs")
    assert _run(database, [], {}) == COUNTS
    listed = "SELECT count(*) FROM image_tags WHERE owner_id = 'u_1' AND listed"
    assert _scalar(database, listed) == 1
    _run(database, ["UPDATE images SET visibility = 'private'"], {})
    assert _scalar(database, listed) == 0  # the trigger survived
    upgrade(database)
    assert {"malware_scan", "malware_signature", "malware_scanned_at"} <= _column_names(
        database, "images"
    )
    assert _scalar(database, "SELECT count(*) FROM jobs WHERE deferrals = 0") == 1


def test_0025_adds_abuse_reports_and_downgrades(database: str) -> None:
    """The reports table with its partial unique index (one active report per
    image and signed-in reporter, anonymous ones unbounded); a downgrade of this
    one step removes it and keeps every other row, wherever the lead chains it."""
    upgrade(database)
    now = dt.datetime.now(dt.UTC)
    _run(database, SEED, {"now": now})
    insert = (
        "INSERT INTO abuse_reports (id, image_id, reporter_id, reason, status, created_at,"
        " updated_at) VALUES (:id, 'img_1', {reporter}, 'spam', :status, :now, :now)"
    )
    signed = insert.format(reporter="'u_1'")
    anonymous = insert.format(reporter="NULL")
    _run(database, [text_with(signed, id="rpt_1", status="open")], {"now": now})
    _run(database, [text_with(anonymous, id="rpt_2", status="open")], {"now": now})
    _run(database, [text_with(anonymous, id="rpt_3", status="open")], {"now": now})
    # A closed report does not hold the place of an active one.
    _run(database, [text_with(signed, id="rpt_4", status="dismissed")], {"now": now})
    with pytest.raises(IntegrityError):
        _run(database, [text_with(signed, id="rpt_5", status="assigned")], {"now": now})
    assert _scalar(database, "SELECT count(*) FROM abuse_reports") == 4
    cfg = alembic_config(database)
    before = ScriptDirectory.from_config(cfg).get_revision("0025_reports").down_revision
    assert isinstance(before, str)
    command.downgrade(cfg, before)
    assert "abuse_reports" not in _tables(database)
    assert _run(database, [], {}) == COUNTS
    upgrade(database)
    assert "abuse_reports" in _tables(database)


def test_0024_withholds_from_listings_and_downgrades(database: str) -> None:
    """`images.withheld` joins what `listed` means (the triggers of 0010/0011,
    replaced, fire on it too); a downgrade of this one step restores the old
    triggers, keeps every row, and drops the columns and `takedowns`."""
    upgrade(database)
    now = dt.datetime.now(dt.UTC)
    _run(database, SEED, {"now": now})
    # A text row as a loader writes it: the copies trigger fills `listed`.
    text_row = (
        "INSERT INTO image_search (image_id, title) VALUES ('img_1', 'sea')"
        if database.startswith("sqlite")
        else "INSERT INTO image_search (image_id, document) VALUES ('img_1', to_tsvector('sea'))"
    )
    _run(database, [text_row], {})
    tags = "SELECT count(*) FROM image_tags WHERE image_id = 'img_1' AND listed"
    texts = "SELECT count(*) FROM image_search WHERE image_id = 'img_1' AND listed"
    assert (_scalar(database, tags), _scalar(database, texts)) == (1, 1)
    _run(database, ["UPDATE images SET withheld = 'takedown'"], {})
    assert (_scalar(database, tags), _scalar(database, texts)) == (0, 0)
    _run(database, ["UPDATE images SET withheld = NULL"], {})
    assert (_scalar(database, tags), _scalar(database, texts)) == (1, 1)
    _run(database, ["UPDATE users SET suspended_at = :now, suspension_reason = 'x'"], {"now": now})
    cfg = alembic_config(database)
    before = ScriptDirectory.from_config(cfg).get_revision("0024_moderation").down_revision
    assert isinstance(before, str)
    command.downgrade(cfg, before)
    assert "takedowns" not in _tables(database)
    assert _run(database, [], {}) == COUNTS
    # The old triggers are back: `listed` still follows the visibility.
    _run(database, ["UPDATE images SET visibility = 'private'"], {})
    assert (_scalar(database, tags), _scalar(database, texts)) == (0, 0)
    _run(database, ["UPDATE images SET visibility = 'public'"], {})
    assert (_scalar(database, tags), _scalar(database, texts)) == (1, 1)
    upgrade(database)
    assert "takedowns" in _tables(database)
    assert _scalar(database, "SELECT count(*) FROM users WHERE suspended_at IS NULL") == 1


def test_0027_adds_the_pdq_hash_and_hash_match_and_downgrades(database: str) -> None:
    """Plain ALTER TABLE both ways: rows kept, the listing triggers of `images`
    still there after a downgrade of this one step (wherever the lead chains it)."""
    upgrade(database)
    now = dt.datetime.now(dt.UTC)
    _run(database, SEED, {"now": now})
    _run(
        database,
        [f"UPDATE images SET pdq = '{'ab' * 32}', pdq_quality = 100, hash_match = 'pdq'"],
        {},
    )
    cfg = alembic_config(database)
    before = ScriptDirectory.from_config(cfg).get_revision("0027_hash_lists").down_revision
    assert isinstance(before, str)
    command.downgrade(cfg, before)
    assert not {"pdq", "pdq_quality", "hash_match"} & _column_names(database, "images")
    assert _run(database, [], {}) == COUNTS
    listed = "SELECT count(*) FROM image_tags WHERE owner_id = 'u_1' AND listed"
    assert _scalar(database, listed) == 1
    _run(database, ["UPDATE images SET visibility = 'private'"], {})
    assert _scalar(database, listed) == 0  # the trigger survived
    upgrade(database)
    assert {"pdq", "pdq_quality", "hash_match"} <= _column_names(database, "images")


def test_0028_adds_the_scrub_tables_and_downgrades_damaged_to_quarantined(database: str) -> None:
    """The scrub's runs and findings; a downgrade of this one step drops them
    and makes a `damaged` image `quarantined`, which older code keeps from
    everyone (it would serve a `damaged` one), keeping every other row."""
    upgrade(database)
    now = dt.datetime.now(dt.UTC)
    _run(database, SEED, {"now": now})
    _run(
        database,
        [
            "INSERT INTO scrub_runs (id, repair, scope, queued, verified, verified_bytes,"
            " problems, created_at) VALUES ('scr_1', true, 'all', 1, 1, 10, 1, :now)",
            "INSERT INTO scrub_findings (run_id, image_id, blob_key, kind, problem, action,"
            " found_at) VALUES ('scr_1', 'img_1', 'u_1/img_1/original', 'original',"
            " 'corrupt', 'damaged', :now)",
            "UPDATE images SET status = 'damaged', status_reason = 'corrupt'",
        ],
        {"now": now},
    )
    cfg = alembic_config(database)
    before = ScriptDirectory.from_config(cfg).get_revision("0028_damaged_images").down_revision
    assert before == "0027_hash_lists"
    command.downgrade(cfg, before)
    assert not {"scrub_runs", "scrub_findings"} & _tables(database)
    assert _run(database, [], {}) == COUNTS
    quarantined = "SELECT count(*) FROM images WHERE status = 'quarantined'"
    assert _scalar(database, quarantined + " AND status_reason = 'corrupt'") == 1
    upgrade(database)
    assert {"scrub_runs", "scrub_findings"} <= _tables(database)
