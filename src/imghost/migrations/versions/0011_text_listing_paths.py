"""text listing paths: sort keys and the public flag copied into image_search

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 12:30:00.000000

What 0010 did for tags, for full text: a text search walked the images in
date order and looked up each one's text row (or read every match and looked
up each image to sort it), a thousand index lookups a page for a word of
middling frequency. `image_search` now carries the image's owner, upload
time and `listed` flag, so "matches of q, newest first" walks one table on
its own index and counting what anyone may see never leaves it. The app's
upsert (`search.index`) writes the copies (a trigger fills them for rows
written otherwise); a trigger on `images` keeps `listed` in step, as for
`image_tags`. NOTE, as in 0010: an SQLite batch rebuild of `images` drops
`images_listed_search` (run `create_triggers` here again), and `image_search`
must never be batch-rebuilt (FTS5 addresses its rows by rowid). Upgrading
needs SQLite 3.33 (`UPDATE … FROM`), downgrading 3.35 (`DROP COLUMN`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import imghost.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite's FTS5 index mirrors image_search through triggers; the update one
# must fire only for the text columns, or every `listed` change (and the
# backfill below) would re-index the row's text.
SQLITE_TEXT_UPDATE = """CREATE TRIGGER image_search_au
    AFTER UPDATE OF title, tags, description, filename ON image_search BEGIN
        INSERT INTO image_fts (image_fts, rowid, title, tags, description, filename)
        VALUES ('delete', old.rowid, old.title, old.tags, old.description, old.filename);
        INSERT INTO image_fts (rowid, title, tags, description, filename)
        VALUES (new.rowid, new.title, new.tags, new.description, new.filename);
    END"""
SQLITE_ANY_UPDATE = """CREATE TRIGGER image_search_au AFTER UPDATE ON image_search BEGIN
        INSERT INTO image_fts (image_fts, rowid, title, tags, description, filename)
        VALUES ('delete', old.rowid, old.title, old.tags, old.description, old.filename);
        INSERT INTO image_fts (rowid, title, tags, description, filename)
        VALUES (new.rowid, new.title, new.tags, new.description, new.filename);
    END"""
# `listed` follows the image; a row is rewritten only when it changes.
SQLITE_LISTED = """CREATE TRIGGER images_listed_search
    AFTER UPDATE OF visibility, status, deleted_at ON images BEGIN
        UPDATE image_search SET listed = (
            new.visibility = 'public' AND new.status = 'ready' AND new.deleted_at IS NULL)
        WHERE image_id = new.id AND listed IS NOT (
            new.visibility = 'public' AND new.status = 'ready' AND new.deleted_at IS NULL);
    END"""
# The app's upsert writes the copies itself; a row inserted by anything else
# (an older release during a rolling upgrade, a loader) gets them here.
SQLITE_COPIES = """CREATE TRIGGER image_search_copies AFTER INSERT ON image_search
    WHEN new.owner_id IS NULL OR new.created_at IS NULL BEGIN
        UPDATE image_search SET (owner_id, created_at, listed) = (
            SELECT owner_id, created_at,
                   (visibility = 'public' AND status = 'ready' AND deleted_at IS NULL)
            FROM images WHERE id = new.image_id)
        WHERE rowid = new.rowid;
    END"""
POSTGRES_TRIGGERS = [
    """CREATE FUNCTION images_listed_search() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE image_search SET listed = (
            NEW.visibility = 'public' AND NEW.status = 'ready' AND NEW.deleted_at IS NULL)
        WHERE image_id = NEW.id AND listed IS DISTINCT FROM (
            NEW.visibility = 'public' AND NEW.status = 'ready' AND NEW.deleted_at IS NULL);
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER images_listed_search AFTER UPDATE OF visibility, status, deleted_at
        ON images FOR EACH ROW EXECUTE FUNCTION images_listed_search()""",
    """CREATE FUNCTION image_search_copies() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.owner_id IS NULL OR NEW.created_at IS NULL THEN
            SELECT owner_id, created_at,
                   (visibility = 'public' AND status = 'ready' AND deleted_at IS NULL)
              INTO NEW.owner_id, NEW.created_at, NEW.listed
              FROM images WHERE id = NEW.image_id;
        END IF;
        RETURN NEW;
    END $$""",
    """CREATE TRIGGER image_search_copies BEFORE INSERT ON image_search
        FOR EACH ROW EXECUTE FUNCTION image_search_copies()""",
]


def create_triggers() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(SQLITE_LISTED)
        op.execute(SQLITE_COPIES)
    else:
        for statement in POSTGRES_TRIGGERS:
            op.execute(statement)


def drop_triggers() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS image_search_copies")
        op.execute("DROP TRIGGER IF EXISTS images_listed_search")
    else:
        op.execute("DROP TRIGGER IF EXISTS image_search_copies ON image_search")
        op.execute("DROP TRIGGER IF EXISTS images_listed_search ON images")
        op.execute("DROP FUNCTION IF EXISTS image_search_copies()")
        op.execute("DROP FUNCTION IF EXISTS images_listed_search()")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("DROP TRIGGER image_search_au")
        op.execute(SQLITE_TEXT_UPDATE)
    # image_search is the app's raw table (no batch rebuild: SQLite's FTS5
    # content table must keep its rowids); adding columns is plain ALTER.
    op.add_column("image_search", sa.Column("owner_id", sa.String(length=40), nullable=True))
    op.add_column(
        "image_search",
        sa.Column("created_at", imghost.db.UTCDateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "image_search",
        sa.Column("listed", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.execute(
        "UPDATE image_search SET owner_id = i.owner_id, created_at = i.created_at, "
        "listed = (i.visibility = 'public' AND i.status = 'ready' AND i.deleted_at IS NULL) "
        "FROM images AS i WHERE i.id = image_search.image_id"
    )
    op.create_index("ix_image_search_listed", "image_search", ["listed", "created_at", "image_id"])
    op.create_index(
        "ix_image_search_owner", "image_search", ["owner_id", "created_at", "image_id", "listed"]
    )
    create_triggers()


def downgrade() -> None:
    drop_triggers()
    op.drop_index("ix_image_search_owner", table_name="image_search")
    op.drop_index("ix_image_search_listed", table_name="image_search")
    # Plain ALTER TABLE DROP COLUMN (SQLite 3.35+), no batch rebuild.
    for name in ("listed", "created_at", "owner_id"):
        op.execute(f"ALTER TABLE image_search DROP COLUMN {name}")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER image_search_au")
        op.execute(SQLITE_ANY_UPDATE)
