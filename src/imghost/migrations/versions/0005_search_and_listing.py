"""search and listing: metadata filter columns, view counts, the full-text index

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 06:48:35.193179
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import imghost.db

# SQLite: FTS5 over an external-content table kept in step by triggers. The
# app maintains `image_search` by image id (unique); the triggers mirror each
# change into `image_fts` (porter stemming, prefix indexes for 2 and 3 chars).
SQLITE_SEARCH = [
    """CREATE TABLE image_search (
        rowid INTEGER PRIMARY KEY,
        image_id VARCHAR(40) NOT NULL UNIQUE REFERENCES images (id) ON DELETE CASCADE,
        title TEXT NOT NULL DEFAULT '',
        tags TEXT NOT NULL DEFAULT '',
        description TEXT NOT NULL DEFAULT '',
        filename TEXT NOT NULL DEFAULT ''
    )""",
    """CREATE VIRTUAL TABLE image_fts USING fts5(
        title, tags, description, filename,
        content='image_search', content_rowid='rowid',
        tokenize='porter unicode61 remove_diacritics 2', prefix='2 3'
    )""",
    """CREATE TRIGGER image_search_ai AFTER INSERT ON image_search BEGIN
        INSERT INTO image_fts (rowid, title, tags, description, filename)
        VALUES (new.rowid, new.title, new.tags, new.description, new.filename);
    END""",
    """CREATE TRIGGER image_search_ad AFTER DELETE ON image_search BEGIN
        INSERT INTO image_fts (image_fts, rowid, title, tags, description, filename)
        VALUES ('delete', old.rowid, old.title, old.tags, old.description, old.filename);
    END""",
    """CREATE TRIGGER image_search_au AFTER UPDATE ON image_search BEGIN
        INSERT INTO image_fts (image_fts, rowid, title, tags, description, filename)
        VALUES ('delete', old.rowid, old.title, old.tags, old.description, old.filename);
        INSERT INTO image_fts (rowid, title, tags, description, filename)
        VALUES (new.rowid, new.title, new.tags, new.description, new.filename);
    END""",
]
# PostgreSQL: one weighted tsvector per image (title A, tags B, description C,
# file name D) under a GIN index.
POSTGRES_SEARCH = [
    """CREATE TABLE image_search (
        image_id VARCHAR(40) PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
        document tsvector NOT NULL
    )""",
    "CREATE INDEX ix_image_search_document ON image_search USING gin (document)",
]

# Existing images enter the index: the app's upsert as it was at this
# revision, frozen here (later revisions add columns to image_search).
SQLITE_BACKFILL = """
INSERT INTO image_search (image_id, title, tags, description, filename)
SELECT i.id, coalesce(i.title, ''),
       coalesce((SELECT group_concat(t.tag, ' ') FROM image_tags t WHERE t.image_id = i.id), ''),
       coalesce(i.description, ''), coalesce(i.filename, '')
FROM images i WHERE true
ON CONFLICT (image_id) DO UPDATE SET
    title = excluded.title, tags = excluded.tags,
    description = excluded.description, filename = excluded.filename
"""
POSTGRES_BACKFILL = """
INSERT INTO image_search (image_id, document)
SELECT i.id,
    setweight(to_tsvector('english', coalesce(i.title, '')), 'A') ||
    setweight(to_tsvector('english', coalesce(
        (SELECT string_agg(t.tag, ' ') FROM image_tags t WHERE t.image_id = i.id), '')), 'B') ||
    setweight(to_tsvector('english', coalesce(i.description, '')), 'C') ||
    setweight(to_tsvector('english',
        regexp_replace(coalesce(i.filename, ''), '[^[:alnum:]]+', ' ', 'g')), 'D')
FROM images i WHERE true
ON CONFLICT (image_id) DO UPDATE SET document = excluded.document
"""


revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("taken_at", imghost.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("camera_make", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("camera_model", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("view_count", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.create_index(batch_op.f("ix_images_taken_at"), ["taken_at"], unique=False)
        batch_op.create_index("ix_images_view_count", ["view_count", "id"], unique=False)
        batch_op.create_index(
            "ix_images_visibility_created", ["visibility", "status", "created_at"], unique=False
        )

    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_SEARCH:
            op.execute(statement)
    else:
        for statement in POSTGRES_SEARCH:
            op.execute(statement)
    op.execute(SQLITE_BACKFILL if op.get_bind().dialect.name == "sqlite" else POSTGRES_BACKFILL)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("image_search_ai", "image_search_ad", "image_search_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS image_fts")
    op.execute("DROP TABLE IF EXISTS image_search")
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_index("ix_images_visibility_created")
        batch_op.drop_index("ix_images_view_count")
        batch_op.drop_index(batch_op.f("ix_images_taken_at"))
        batch_op.drop_column("view_count")
        batch_op.drop_column("camera_model")
        batch_op.drop_column("camera_make")
        batch_op.drop_column("taken_at")
