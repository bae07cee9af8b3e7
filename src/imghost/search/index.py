"""Keeping the full-text index in step with images, in the same transaction.

An ``after_flush`` hook collects the images whose title, description, file
name or tags changed in the flush and rewrites their index rows with one
statement per image, computed by the database from the rows just written.
Create, patch, restore and purge (ON DELETE CASCADE) are covered wherever
they happen; soft-deleted images stay indexed and are filtered by queries.
"""

from __future__ import annotations

from itertools import chain

from sqlalchemy import event, inspect, text
from sqlalchemy.orm import Session, UOWTransaction

from imghost.images.models import Image, ImageTag

# The image's owner, upload time and `listed` flag ride along (migration
# 0011): text listings walk and count `image_search` alone. Owner and upload
# time never change; a trigger on `images` keeps `listed` in step.
_SQLITE_UPSERT = """
INSERT INTO image_search (image_id, title, tags, description, filename,
                          owner_id, created_at, listed)
SELECT i.id, coalesce(i.title, ''),
       coalesce((SELECT group_concat(t.tag, ' ') FROM image_tags t WHERE t.image_id = i.id), ''),
       coalesce(i.description, ''), coalesce(i.filename, ''),
       i.owner_id, i.created_at,
       (i.visibility = 'public' AND i.status = 'ready' AND i.deleted_at IS NULL
        AND i.withheld IS NULL)
FROM images i WHERE {where}
ON CONFLICT (image_id) DO UPDATE SET
    title = excluded.title, tags = excluded.tags,
    description = excluded.description, filename = excluded.filename,
    owner_id = excluded.owner_id, created_at = excluded.created_at, listed = excluded.listed
"""
_POSTGRES_UPSERT = """
INSERT INTO image_search (image_id, document, owner_id, created_at, listed)
SELECT i.id,
    setweight(to_tsvector('english', coalesce(i.title, '')), 'A') ||
    setweight(to_tsvector('english', coalesce(
        (SELECT string_agg(t.tag, ' ') FROM image_tags t WHERE t.image_id = i.id), '')), 'B') ||
    setweight(to_tsvector('english', coalesce(i.description, '')), 'C') ||
    setweight(to_tsvector('english',
        regexp_replace(coalesce(i.filename, ''), '[^[:alnum:]]+', ' ', 'g')), 'D'),
    i.owner_id, i.created_at,
    (i.visibility = 'public' AND i.status = 'ready' AND i.deleted_at IS NULL
     AND i.withheld IS NULL)
FROM images i WHERE {where}
ON CONFLICT (image_id) DO UPDATE SET document = excluded.document,
    owner_id = excluded.owner_id, created_at = excluded.created_at, listed = excluded.listed
"""
_SEARCHED = ("title", "description", "filename")


def upsert_sql(dialect: str, where: str = "i.id = :id") -> str:
    template = _SQLITE_UPSERT if dialect == "sqlite" else _POSTGRES_UPSERT
    return template.format(where=where)


def backfill_sql(dialect: str) -> str:
    return upsert_sql(dialect, "true")


def _changed(session: Session) -> set[str]:
    ids: set[str] = set()
    for obj in chain(session.new, session.dirty, session.deleted):
        if isinstance(obj, ImageTag):
            ids.add(obj.image_id)
        elif isinstance(obj, Image) and obj not in session.deleted:
            state = inspect(obj)
            if obj in session.new or any(
                state.attrs[name].history.has_changes() for name in _SEARCHED
            ):
                ids.add(obj.id)
    return ids


@event.listens_for(Session, "after_flush")
def _reindex(session: Session, _flush: UOWTransaction) -> None:
    ids = _changed(session)
    if not ids:
        return
    connection = session.connection()
    sql = text(upsert_sql(connection.dialect.name))
    connection.execute(sql, [{"id": image_id} for image_id in sorted(ids)])
