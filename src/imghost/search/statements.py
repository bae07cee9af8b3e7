"""The SQL of a listing, built once per shape of request and reused.

How a listing stays one short index walk at a million images:

- With a tag filter the walk starts in ``image_tags``, with a text search in
  ``image_search``; both carry copies of the image's owner, upload time and
  ``listed`` flag (public, ready, not deleted), so "tag T, newest first",
  "user U, tag T, newest first" and "matches of q, newest first" are each one
  ordered index range; other tags are probed by primary key.
- What a caller may see is split into disjoint parts, each walked on its own
  index, sorted and cut to the page, then merged: what anyone may see
  (``listed``), the caller's own other images, and — for callers who hold
  any grant — other images reached through one (started from the grants,
  which are few). One OR over all of them would defeat every index.
- The keyset cursor compares a row value, ``(key, id) < (:key, :id)``, which
  bounds the index scan, so deep pages cost what page 1 costs.
- ``total`` counts up to ``COUNT_CAP`` matches, part by part; past that it
  says so (``total_capped``) instead of counting a million rows per page. A
  last page shows the total without counting.
- Relevance ranks the ``RELEVANCE_CANDIDATES`` newest matches: ranking every
  image that contains a common word costs more than any page is worth.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    bindparam,
    exists,
    false,
    func,
    not_,
    or_,
    select,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.orm import aliased

from imghost.access.grants import Caller
from imghost.access.listing import granted_image_ids, listable_images, owned_images
from imghost.accounts.models import User
from imghost.albums.models import AlbumImage
from imghost.db import UTCDateTime
from imghost.images.models import Image, ImageTag
from imghost.search.text import Hits, hits, matching, ranked, row_matches, text_row

Sort = Literal["newest", "oldest", "most_viewed", "relevance"]


@dataclass(frozen=True)
class Shape:
    """What decides a statement's form (not its values): statements are built
    once per shape and reused, so SQLAlchemy builds, keys and compiles them
    once: building them took longer than running them (8 to 17 ms a call)."""

    dialect: str
    caller: Literal["anonymous", "user", "admin"]
    tags: int  # how many tags are filtered on
    present: frozenset[str]  # the scalar filters given
    text: bool
    matches_first: bool
    sort: Sort
    after: bool  # a keyset cursor is given
    grants: bool  # the (signed-in) caller holds grants on others' images


@dataclass
class _Plan:
    """Where a listing starts, its filter conditions and its sort key."""

    # The row the walk starts from: an alias of image_tags (a tag filter) or
    # of image_search (a text search), which carry the image's owner, upload
    # time and `listed` flag; None: the images table itself.
    row: Any
    id_column: Any  # the image id, on `row` when there is one
    owner_column: Any
    created_column: Any
    listed_column: Any  # on `row`; None for the images table
    where: list[ColumnElement[bool]] = field(default_factory=list)
    needs_image: bool = False  # some condition reads the images table
    # Full text with few matches: read them all from the text index, then
    # sort, rather than walk the listing in order and test each image.
    matches_first: bool = False

    # Counting text matches: the walk starts from the text index's matches
    # (any order will do for a count) rather than from the listing.
    hits: Hits | None = None

    def select(
        self, columns: list[Any], conditions: list[ColumnElement[bool]], image: bool
    ) -> Select[Any]:
        start: Any = Image if self.row is None else self.row
        if self.hits is None:
            query = select(*columns).select_from(start)
        else:
            query = (
                select(*columns)
                .select_from(self.hits.source)
                .join(start, self.hits.on)
                .where(self.hits.where)
            )
        if self.row is not None and (image or self.needs_image):
            query = query.join(Image, Image.id == self.id_column)
        return query.where(*self.where, *conditions)


# The filters on the image's own columns, each one bound value.
_ON_IMAGE: dict[str, Callable[[], ColumnElement[bool]]] = {
    "org": lambda: Image.org_id == bindparam("org"),
    "visibility": lambda: Image.visibility == bindparam("visibility"),
    "format": lambda: Image.format == bindparam("format"),
    "taken_from": lambda: Image.taken_at >= bindparam("taken_from", type_=UTCDateTime),
    "taken_to": lambda: Image.taken_at < bindparam("taken_to", type_=UTCDateTime),
    "make": lambda: func.lower(Image.camera_make) == bindparam("make"),
    "model": lambda: func.lower(Image.camera_model) == bindparam("model"),
    "min_width": lambda: Image.width >= bindparam("min_width"),
    "min_height": lambda: Image.height >= bindparam("min_height"),
}


def _plan(shape: Shape, *, counting: bool = False) -> _Plan:
    """``counting``: the plan of the capped counts, which need no order."""
    walks_text = False
    if shape.tags and shape.sort != "most_viewed":
        tag: Any = aliased(ImageTag, name="t0")
        plan = _Plan(
            tag,
            tag.image_id,
            tag.owner_id,
            tag.created_at,
            tag.listed,
            [tag.tag == bindparam("tag0")],
        )
        first_other = 1
    elif shape.text and shape.sort != "most_viewed":
        row = text_row()
        plan = _Plan(row, row.c.image_id, row.c.owner_id, row.c.created_at, row.c.listed)
        walks_text, first_other = True, 0
    else:
        plan = _Plan(None, Image.id, Image.owner_id, Image.created_at, None)
        first_other = 0
    for n in range(first_other, shape.tags):
        plan.where.append(
            exists(
                select(ImageTag.tag).where(
                    ImageTag.image_id == plan.id_column, ImageTag.tag == bindparam(f"tag{n}")
                )
            )
        )
    present = shape.present
    if "user" in present:
        owner = (
            select(User.id)
            .where(or_(User.id == bindparam("user"), User.username == bindparam("username")))
            .scalar_subquery()
        )
        plan.where.append(plan.owner_column == owner)
    if "album" in present:
        plan.where.append(
            plan.id_column.in_(
                select(AlbumImage.image_id).where(AlbumImage.album_id == bindparam("album"))
            )
        )
    if "visibility" in present:
        plan.where.append(plan.owner_column == bindparam("me"))
    if "uploaded_from" in present:
        plan.where.append(plan.created_column >= bindparam("uploaded_from", type_=UTCDateTime))
    if "uploaded_to" in present:
        plan.where.append(plan.created_column < bindparam("uploaded_to", type_=UTCDateTime))
    on_image = [condition() for name, condition in _ON_IMAGE.items() if name in present]
    plan.where += on_image
    plan.needs_image = bool(on_image)
    if shape.text:
        query: Any = bindparam("q")
        if counting and (shape.dialect == "sqlite" or not walks_text):
            plan.hits = hits(shape.dialect, query, plan.id_column, plan.row if walks_text else None)
        elif walks_text:
            plan.where.append(
                row_matches(shape.dialect, query, plan.row, first=shape.matches_first)
            )
        else:
            plan.where.append(
                matching(shape.dialect, query, plan.id_column, first=shape.matches_first)
            )
        plan.matches_first = shape.matches_first and not counting
    return plan


def _parts(shape: Shape, plan: _Plan) -> list[tuple[list[ColumnElement[bool]], bool]]:
    """What the caller may see as disjoint parts: (conditions, reads images)."""
    if shape.caller == "admin":
        return [([Image.deleted_at.is_(None)], True)]
    if plan.row is not None:
        listed: list[ColumnElement[bool]] = [plan.listed_column == true()]
        hidden = plan.listed_column == false()
    else:
        # The partial indexes' condition (images.models.LISTED_SQL), term by term.
        listed = [
            Image.visibility == "public",
            Image.status == "ready",
            Image.deleted_at.is_(None),
            Image.withheld.is_(None),
        ]
        hidden = not_(and_(*listed))
    if shape.caller == "anonymous":
        return [(listed, plan.row is None)]
    me: ColumnElement[str] = bindparam("me", type_=String())
    owned = owned_images(me)
    parts = [
        (listed, plan.row is None),
        # Their own hidden images: the owner rule alone decides.
        ([hidden, plan.owner_column == me, owned, Image.deleted_at.is_(None)], True),
    ]
    if shape.grants:
        # Any other hidden image they may see comes through a grant. The rule
        # is long to plan (PostgreSQL plans each call anew): only for callers
        # who hold grants at all.
        rule = listable_images(Caller(user_id="me"), me=me)
        parts.append(([hidden, plan.id_column.in_(granted_image_ids(me)), not_(owned), rule], True))
    return parts


def _key(plan: _Plan, sort: Sort) -> list[Any]:
    if sort == "most_viewed":
        return [Image.view_count, Image.id]
    return [plan.created_column, plan.id_column]


def _after(plan: _Plan, sort: Sort) -> ColumnElement[bool]:
    """Rows strictly after the cursor's row in this sort order."""
    columns = _key(plan, sort)
    mine = tuple_(*columns)
    theirs = tuple_(
        bindparam("after0", type_=columns[0].type), bindparam("after1", type_=columns[1].type)
    )
    return mine > theirs if sort == "oldest" else mine < theirs


def _cuts(
    plan: _Plan,
    parts: list[tuple[list[ColumnElement[bool]], bool]],
    sort: Sort,
    extra: list[ColumnElement[bool]],
) -> list[Select[Any]]:
    """Each part as (id, k0, k1) in the sort order, not yet cut."""
    key = _key(plan, sort)
    if plan.matches_first:
        # An expression no index provides, so that PostgreSQL cannot choose
        # to walk an index in order and test every row against the text: it
        # must take the (few) matches first and sort them.
        key = [func.coalesce(key[0], key[0]), key[1]]
    columns = [plan.id_column.label("id"), key[0].label("k0"), key[1].label("k1")]
    return [
        plan.select(columns, [*conditions, *extra], image).order_by(*_order(key, sort))
        for conditions, image in parts
    ]


def _order(columns: list[Any], sort: Sort) -> list[Any]:
    return [c.asc() if sort == "oldest" else c.desc() for c in columns]


def _merged(parts: list[Select[Any]], n: Any) -> Any:
    """Each part cut to ``n`` rows, as one subquery (id, k0, k1)."""
    cuts = [part.limit(n).subquery() for part in parts]
    selects = [select(cut.c.id, cut.c.k0, cut.c.k1) for cut in cuts]
    if len(selects) == 1:
        return selects[0].subquery("merged")
    return union_all(*selects).subquery("merged")


def _page(parts: list[Select[Any]], sort: Sort) -> Any:
    """The page's rows (id, k0, k1), cut before any image is joined: a deep
    offset skips keys, not image rows. Several parts are each cut to
    ``offset + limit`` rows and merged; a lone part is cut at once (merging
    it would sort its ``offset + limit`` rows a second time)."""
    offset: Any = bindparam("offset")
    limit: Any = bindparam("limit")
    if len(parts) == 1:
        return parts[0].offset(offset).limit(limit).subquery("page")
    merged = _merged(parts, bindparam("n"))
    return (
        select(merged)
        .order_by(*_order([merged.c.k0, merged.c.k1], sort))
        .offset(offset)
        .limit(limit)
        .subquery("page")
    )


@dataclass(frozen=True)
class Statements:
    rows: Select[Any]  # images of the page (with k0, k1 for key sorts)
    counts: list[Select[Any]]  # a capped count of each part


@functools.lru_cache(maxsize=512)
def build(shape: Shape) -> Statements:
    plan = _plan(shape)
    parts = _parts(shape, plan)
    if shape.sort == "relevance":
        n: Any = bindparam("candidates")
        candidates = _merged(_cuts(plan, parts, "newest", []), n)
        newest = select(candidates.c.id)
        if len(parts) > 1:  # the newest of all parts, not of each
            newest = newest.order_by(*_order([candidates.c.k0, candidates.c.k1], "newest"))
            newest = newest.limit(n)
        scored = ranked(shape.dialect, bindparam("q"), newest).subquery()
        # Ranked and cut before the images are joined.
        cut = (
            select(scored)
            .order_by(scored.c.rank, scored.c.image_id)
            .offset(bindparam("offset"))
            .limit(bindparam("limit"))
            .subquery("page")
        )
        rows = (
            select(Image, cut.c.rank)
            .join(cut, cut.c.image_id == Image.id)
            .order_by(cut.c.rank, cut.c.image_id)
        )
    else:
        extra = [_after(plan, shape.sort)] if shape.after else []
        page = _page(_cuts(plan, parts, shape.sort, extra), shape.sort)
        keys = [page.c.k0, page.c.k1]
        rows = (
            select(Image, *keys)
            .join(page, page.c.id == Image.id)
            .order_by(*_order(keys, shape.sort))
        )
    counting = _plan(shape, counting=True)
    counts = [
        select(func.count()).select_from(
            counting.select([counting.id_column], conditions, image)
            .limit(bindparam("cap"))
            .subquery()
        )
        for conditions, image in _parts(shape, counting)
    ]
    return Statements(rows, counts)
