"""Listing and searching images: filters, sorts, page or cursor pagination.

Results contain only what the caller may see (``sharing.listing``): public
images, their own, and private ones shared with them — never unlisted
images of others, never deleted ones.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.accounts.models import User
from imghost.errors import AppError, Unauthorized
from imghost.images.models import Image, ImageTag
from imghost.search import cursor as cursors
from imghost.search.text import matches, words
from imghost.sharing.grants import Caller
from imghost.sharing.listing import listable_images
from imghost.sharing.models import AlbumImage

Sort = Literal["newest", "oldest", "most_viewed", "relevance"]


@dataclass(frozen=True)
class Filters:
    user: str | None = None
    tags: list[str] = field(default_factory=list)
    album: str | None = None
    org: str | None = None
    visibility: str | None = None
    format: str | None = None
    uploaded_from: dt.datetime | None = None
    uploaded_to: dt.datetime | None = None
    taken_from: dt.datetime | None = None
    taken_to: dt.datetime | None = None
    make: str | None = None
    model: str | None = None
    min_width: int | None = None
    min_height: int | None = None
    q: str | None = None


@dataclass(frozen=True)
class Page:
    images: list[Image]
    total: int | None
    next: str | None


async def _user_id(session: AsyncSession, user: str) -> str | None:
    found = await session.scalar(
        select(User.id).where(or_(User.id == user, User.username == user.lower()))
    )
    return found


async def _conditions(
    session: AsyncSession, caller: Caller, f: Filters
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [listable_images(caller)]
    if f.user is not None:
        owner = await _user_id(session, f.user)
        where.append(Image.owner_id == owner if owner else Image.id.is_(None))
    for tag in dict.fromkeys(t.strip().lower() for t in f.tags if t.strip()):
        where.append(Image.id.in_(select(ImageTag.image_id).where(ImageTag.tag == tag)))
    if f.album is not None:
        where.append(
            Image.id.in_(select(AlbumImage.image_id).where(AlbumImage.album_id == f.album))
        )
    if f.org is not None:
        where.append(Image.org_id == f.org)
    if f.visibility is not None:
        if caller.user_id is None:
            raise Unauthorized("Sign in to filter your own images by visibility.")
        where += [Image.owner_id == caller.user_id, Image.visibility == f.visibility]
    if f.format is not None:
        where.append(Image.format == f.format)
    if f.uploaded_from is not None:
        where.append(Image.created_at >= f.uploaded_from)
    if f.uploaded_to is not None:
        where.append(Image.created_at < f.uploaded_to)
    if f.taken_from is not None:
        where.append(Image.taken_at >= f.taken_from)
    if f.taken_to is not None:
        where.append(Image.taken_at < f.taken_to)
    if f.make is not None:
        where.append(func.lower(Image.camera_make) == f.make.strip().lower())
    if f.model is not None:
        where.append(func.lower(Image.camera_model) == f.model.strip().lower())
    if f.min_width is not None:
        where.append(Image.width >= f.min_width)
    if f.min_height is not None:
        where.append(Image.height >= f.min_height)
    return where


def _key_columns(sort: Sort) -> list[Any]:
    if sort in ("newest", "oldest"):
        return [Image.created_at, Image.id]
    return [Image.view_count, Image.id]


def _key_of(sort: Sort, image: Image) -> list[Any]:
    if sort in ("newest", "oldest"):
        return [image.created_at.isoformat(), image.id]
    return [image.view_count, image.id]


def _after(sort: Sort, key: list[Any]) -> ColumnElement[bool]:
    """Rows strictly after the cursor's row in this sort order."""
    try:
        if sort in ("newest", "oldest"):
            first: Any = dt.datetime.fromisoformat(str(key[0]))
        else:
            first = int(key[0])
        last = str(key[1])
    except (ValueError, IndexError, TypeError):
        raise _bad_cursor() from None
    column, tie = _key_columns(sort)
    if sort == "oldest":
        return or_(column > first, and_(column == first, tie > last))
    return or_(column < first, and_(column == first, tie < last))


async def search(
    session: AsyncSession,
    caller: Caller,
    filters: Filters,
    *,
    sort: Sort,
    page: int,
    limit: int,
    cursor: str | None,
) -> Page:
    where = await _conditions(session, caller, filters)
    terms = words(filters.q or "")
    if filters.q is not None and not terms:
        raise AppError(400, "invalid_query", "The search text has no words to look for.")
    if sort == "relevance" and not terms:
        raise AppError(400, "relevance_needs_q", "Sorting by relevance needs a search text `q`.")
    if cursor is not None and page != 1:
        raise AppError(400, "cursor_with_page", "Use either `page` or `cursor`, not both.")
    query: Select[Any] = select(Image)
    rank = None
    if terms:
        dialect = session.get_bind().dialect.name
        hits = matches(dialect, terms).subquery()
        query = query.join(hits, hits.c.image_id == Image.id)
        rank = hits.c.rank
    query = query.where(*where)
    if sort == "relevance":
        assert rank is not None
        # Ranks are floats that move as the index changes: relevance pages by
        # offset (the cursor carries it) rather than by key.
        offset = (page - 1) * limit
        if cursor is not None:
            offset = int(_offset(cursors.decode(cursor, sort)))
        rows = list(
            (
                await session.scalars(
                    query.order_by(rank, Image.id).offset(offset).limit(limit + 1)
                )
            ).all()
        )
        more = len(rows) > limit
        following = cursors.encode(sort, [offset + limit]) if more else None
        total = None if cursor is not None else await _count(session, query)
        return Page(rows[:limit], total, following)
    column, tie = _key_columns(sort)
    order = [column.asc(), tie.asc()] if sort == "oldest" else [column.desc(), tie.desc()]
    if cursor is not None:
        query = query.where(_after(sort, cursors.decode(cursor, sort)))
        rows = list((await session.scalars(query.order_by(*order).limit(limit + 1))).all())
        total = None
    else:
        rows = list(
            (
                await session.scalars(
                    query.order_by(*order).offset((page - 1) * limit).limit(limit + 1)
                )
            ).all()
        )
        total = await _count(session, query)
    more = len(rows) > limit
    rows = rows[:limit]
    following = cursors.encode(sort, _key_of(sort, rows[-1])) if more and rows else None
    return Page(rows, total, following)


def _offset(key: list[Any]) -> int:
    try:
        value = int(key[0])
    except (ValueError, IndexError, TypeError):
        raise _bad_cursor() from None
    if value < 0:
        raise _bad_cursor()
    return value


def _bad_cursor() -> AppError:
    return AppError(400, "invalid_cursor", "This cursor is malformed; start again without it.")


async def _count(session: AsyncSession, query: Select[Any]) -> int:
    counted = select(func.count()).select_from(query.with_only_columns(Image.id).subquery())
    return int(await session.scalar(counted) or 0)
