"""Listing and searching images: filters, sorts, page or cursor pagination.

Results contain only what the caller may see (``sharing.listing``): public
images, their own, and private ones shared with them — never unlisted
images of others, never deleted ones.

How a listing stays one short index walk at a million images:

- With a tag filter the walk starts in ``image_tags``, which carries copies of
  the image's owner, upload time and ``listed`` flag (public, ready, not
  deleted), so "tag T, newest first" and "user U, tag T, newest first" are
  each one ordered index range; other tags are probed by primary key.
- What a caller may see is split into disjoint parts, each walked on its own
  index, sorted and cut to the page, then merged: what anyone may see
  (``listed``), the caller's own other images, and other images the caller
  holds a grant on (started from the grants, which are few). One OR over all
  of them would defeat every index.
- The keyset cursor compares a row value, ``(key, id) < (:key, :id)``, which
  bounds the index scan, so deep pages cost what page 1 costs.
- ``total`` counts up to ``COUNT_CAP`` matches; past that it says so
  (``total_capped``) instead of counting a million rows per page.
- Relevance ranks the ``RELEVANCE_CANDIDATES`` newest matches: ranking every
  image that contains a common word costs more than any page is worth.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from imghost.accounts.models import User
from imghost.errors import AppError, Unauthorized
from imghost.images.models import Image, ImageTag
from imghost.search import cursor as cursors
from imghost.search.text import few_matches, matching, ranked, words
from imghost.sharing.grants import Caller
from imghost.sharing.listing import granted_image_ids, listable_images
from imghost.sharing.models import AlbumImage

Sort = Literal["newest", "oldest", "most_viewed", "relevance"]

COUNT_CAP = 1_000
RELEVANCE_CANDIDATES = 250


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
    total_capped: bool = False


@dataclass
class _Plan:
    """Where a listing starts, its filter conditions and its sort key."""

    tag_row: Any  # the image_tags alias the walk starts from, or None
    id_column: Any  # the image id, on tag_row when there is one
    owner_column: Any
    created_column: Any
    where: list[ColumnElement[bool]] = field(default_factory=list)
    needs_image: bool = False  # some condition reads the images table
    # Full text with few matches: read them all from the text index, then
    # sort, rather than walk the listing in order and test each image.
    matches_first: bool = False

    def select(
        self, columns: list[Any], conditions: list[ColumnElement[bool]], image: bool
    ) -> Select[Any]:
        if self.tag_row is None:
            return select(*columns).select_from(Image).where(*self.where, *conditions)
        query = select(*columns).select_from(self.tag_row)
        if image or self.needs_image:
            query = query.join(Image, Image.id == self.tag_row.image_id)
        return query.where(*self.where, *conditions)


def _user_id(user: str) -> Any:
    """The owner's id, by id or username, as a subquery (NULL when unknown)."""
    return (
        select(User.id).where(or_(User.id == user, User.username == user.lower())).scalar_subquery()
    )


def _plan(caller: Caller, f: Filters, sort: Sort) -> _Plan:
    tags = list(dict.fromkeys(t.strip().lower() for t in f.tags if t.strip()))
    if tags and sort != "most_viewed":
        row: Any = aliased(ImageTag, name="t0")
        plan = _Plan(row, row.image_id, row.owner_id, row.created_at, [row.tag == tags.pop(0)])
    else:
        plan = _Plan(None, Image.id, Image.owner_id, Image.created_at)
    for tag in tags:
        plan.where.append(
            exists(
                select(ImageTag.tag).where(ImageTag.image_id == plan.id_column, ImageTag.tag == tag)
            )
        )
    if f.user is not None:
        plan.where.append(plan.owner_column == _user_id(f.user))
    if f.album is not None:
        plan.where.append(
            plan.id_column.in_(select(AlbumImage.image_id).where(AlbumImage.album_id == f.album))
        )
    if f.visibility is not None:
        if caller.user_id is None:
            raise Unauthorized("Sign in to filter your own images by visibility.")
        plan.where.append(plan.owner_column == caller.user_id)
    if f.uploaded_from is not None:
        plan.where.append(plan.created_column >= f.uploaded_from)
    if f.uploaded_to is not None:
        plan.where.append(plan.created_column < f.uploaded_to)
    on_image: list[ColumnElement[bool]] = []
    if f.org is not None:
        on_image.append(Image.org_id == f.org)
    if f.visibility is not None:
        on_image.append(Image.visibility == f.visibility)
    if f.format is not None:
        on_image.append(Image.format == f.format)
    if f.taken_from is not None:
        on_image.append(Image.taken_at >= f.taken_from)
    if f.taken_to is not None:
        on_image.append(Image.taken_at < f.taken_to)
    if f.make is not None:
        on_image.append(func.lower(Image.camera_make) == f.make.strip().lower())
    if f.model is not None:
        on_image.append(func.lower(Image.camera_model) == f.model.strip().lower())
    if f.min_width is not None:
        on_image.append(Image.width >= f.min_width)
    if f.min_height is not None:
        on_image.append(Image.height >= f.min_height)
    plan.where += on_image
    plan.needs_image = bool(on_image)
    return plan


def _parts(caller: Caller, plan: _Plan) -> list[tuple[list[ColumnElement[bool]], bool]]:
    """What the caller may see as disjoint parts: (conditions, reads images)."""
    if caller.admin:
        return [([Image.deleted_at.is_(None)], True)]
    if plan.tag_row is not None:
        listed: list[ColumnElement[bool]] = [plan.tag_row.listed == true()]
        hidden = plan.tag_row.listed == false()
    else:
        listed = [Image.visibility == "public", Image.status == "ready", Image.deleted_at.is_(None)]
        hidden = not_(and_(*listed))
    me = caller.user_id
    if me is None:
        return [(listed, plan.tag_row is None)]
    rule = listable_images(caller)
    return [
        (listed, plan.tag_row is None),
        ([hidden, plan.owner_column == me, rule], True),
        ([hidden, plan.owner_column != me, plan.id_column.in_(granted_image_ids(me)), rule], True),
    ]


def _key(plan: _Plan, sort: Sort) -> list[Any]:
    if sort == "most_viewed":
        return [Image.view_count, Image.id]
    return [plan.created_column, plan.id_column]


def _after(plan: _Plan, sort: Sort, key: list[Any]) -> ColumnElement[bool]:
    """Rows strictly after the cursor's row in this sort order."""
    columns = _key(plan, sort)
    try:
        if sort == "most_viewed":
            first: Any = int(key[0])
        else:
            first = dt.datetime.fromisoformat(str(key[0]))
        last = str(key[1])
    except (ValueError, IndexError, TypeError):
        raise _bad_cursor() from None
    mine = tuple_(*columns)
    theirs = tuple_(literal(first, columns[0].type), literal(last, columns[1].type))
    return mine > theirs if sort == "oldest" else mine < theirs


def _merged(
    plan: _Plan,
    parts: list[tuple[list[ColumnElement[bool]], bool]],
    sort: Sort,
    n: int,
    extra: list[ColumnElement[bool]],
) -> Any:
    """Each part sorted and cut to ``n`` rows, as one subquery (id, k0, k1)."""
    key = _key(plan, sort)
    if plan.matches_first:
        # An expression no index provides, so that PostgreSQL cannot choose
        # to walk an index in order and test every row against the text: it
        # must take the (few) matches first and sort them.
        key = [func.coalesce(key[0], key[0]), key[1]]
    columns = [plan.id_column.label("id"), key[0].label("k0"), key[1].label("k1")]
    order = [c.asc() if sort == "oldest" else c.desc() for c in key]
    selects = []
    for conditions, image in parts:
        part = plan.select(columns, [*conditions, *extra], image)
        cut = part.order_by(*order).limit(n).subquery()
        selects.append(select(cut.c.id, cut.c.k0, cut.c.k1))
    if len(selects) == 1:
        return selects[0].subquery("merged")
    return union_all(*selects).subquery("merged")


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
    terms = words(filters.q or "")
    if filters.q is not None and not terms:
        raise AppError(400, "invalid_query", "The search text has no words to look for.")
    if sort == "relevance" and not terms:
        raise AppError(400, "relevance_needs_q", "Sorting by relevance needs a search text `q`.")
    if cursor is not None and page != 1:
        raise AppError(400, "cursor_with_page", "Use either `page` or `cursor`, not both.")
    dialect = session.get_bind().dialect.name
    plan = _plan(caller, filters, sort)
    if terms:
        plan.matches_first = await few_matches(session, terms)
        plan.where.append(matching(dialect, terms, plan.id_column, first=plan.matches_first))
    parts = _parts(caller, plan)
    if sort == "relevance":
        return await _by_relevance(session, plan, parts, dialect, terms, page, limit, cursor)
    offset = (page - 1) * limit
    extra = [_after(plan, sort, cursors.decode(cursor, sort))] if cursor is not None else []
    merged = _merged(plan, parts, sort, offset + limit + 1, extra)
    ordered = [k.asc() if sort == "oldest" else k.desc() for k in (merged.c.k0, merged.c.k1)]
    # The page is cut before the images are joined: a deep offset skips keys,
    # not image rows.
    cut = select(merged).order_by(*ordered).offset(offset).limit(limit + 1).subquery("page")
    keys = [cut.c.k0, cut.c.k1]
    rows = (
        await session.execute(
            select(Image, *keys)
            .join(cut, cut.c.id == Image.id)
            .order_by(*[k.asc() if sort == "oldest" else k.desc() for k in keys])
        )
    ).all()
    following = None
    if len(rows) > limit:
        rows = rows[:limit]
        k0, k1 = rows[-1].k0, rows[-1].k1
        following = cursors.encode(sort, [k0 if sort == "most_viewed" else k0.isoformat(), k1])
    images = [r.Image for r in rows]
    if cursor is not None:
        return Page(images, None, following)
    total, capped = await _count(session, plan, parts)
    return Page(images, total, following, capped)


async def _by_relevance(
    session: AsyncSession,
    plan: _Plan,
    parts: list[tuple[list[ColumnElement[bool]], bool]],
    dialect: str,
    terms: list[str],
    page: int,
    limit: int,
    cursor: str | None,
) -> Page:
    # Ranks are floats that move as the index changes: relevance pages by
    # offset (the cursor carries it) rather than by key.
    offset = (page - 1) * limit
    if cursor is not None:
        offset = _offset(cursors.decode(cursor, "relevance"))
    candidates = _merged(plan, parts, "newest", RELEVANCE_CANDIDATES, [])
    hits = ranked(dialect, terms, select(candidates.c.id)).subquery()
    # Ranked and cut before the images are joined.
    cut = (
        select(hits)
        .order_by(hits.c.rank, hits.c.image_id)
        .offset(offset)
        .limit(limit + 1)
        .subquery("page")
    )
    rows = (
        await session.scalars(
            select(Image).join(cut, cut.c.image_id == Image.id).order_by(cut.c.rank, cut.c.image_id)
        )
    ).all()
    images = list(rows[:limit])
    following = cursors.encode("relevance", [offset + limit]) if len(rows) > limit else None
    if cursor is not None:
        return Page(images, None, following)
    total, capped = await _count(session, plan, parts)
    if total > RELEVANCE_CANDIDATES:
        total, capped = RELEVANCE_CANDIDATES, True
    return Page(images, total, following, capped)


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


async def _count(
    session: AsyncSession, plan: _Plan, parts: list[tuple[list[ColumnElement[bool]], bool]]
) -> tuple[int, bool]:
    """Matches up to ``COUNT_CAP`` (each part stops counting there), and
    whether there are more."""
    counts = [
        select(func.count())
        .select_from(
            plan.select([plan.id_column], conditions, image).limit(COUNT_CAP + 1).subquery()
        )
        .scalar_subquery()
        for conditions, image in parts
    ]
    found = (await session.execute(select(*counts))).one()
    total = sum(int(c) for c in found)
    return min(total, COUNT_CAP), total > COUNT_CAP
