"""Listing and searching images: filters, sorts, page or cursor pagination.

Results contain only what the caller may see (``access.listing``): public
images, their own, shared ones shared with them and private ones of the
orgs they manage — never unlisted images of others, never deleted ones.
The SQL is in ``statements``; here are the request's checks, its values,
and the count.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, String, bindparam
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.access.grants import Caller
from imghost.access.listing import holds_grants
from imghost.errors import AppError, Unauthorized
from imghost.images.models import Image
from imghost.search import cursor as cursors
from imghost.search.statements import Shape, Sort, build
from imghost.search.text import few_matches, query_text, words

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


def _params(caller: Caller, f: Filters, tags: list[str]) -> dict[str, Any]:
    """The bound values of a call, by the names the statements use."""
    values: dict[str, Any] = {f"tag{n}": tag for n, tag in enumerate(tags)}
    if caller.user_id is not None:
        values["me"] = caller.user_id
    if f.user is not None:
        values |= {"user": f.user, "username": f.user.lower()}
    if f.make is not None:
        values["make"] = f.make.strip().lower()
    if f.model is not None:
        values["model"] = f.model.strip().lower()
    for name in (
        "album",
        "org",
        "visibility",
        "format",
        "uploaded_from",
        "uploaded_to",
        "taken_from",
        "taken_to",
        "min_width",
        "min_height",
    ):
        if getattr(f, name) is not None:
            values[name] = getattr(f, name)
    return values


def _after_values(sort: Sort, key: list[Any]) -> dict[str, Any]:
    """The cursor's row key as bound values."""
    try:
        if sort == "most_viewed":
            first: Any = int(key[0])
        else:
            first = dt.datetime.fromisoformat(str(key[0]))
        last = str(key[1])
    except (ValueError, IndexError, TypeError):
        raise _bad_cursor() from None
    return {"after0": first, "after1": last}


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
    if filters.visibility is not None and caller.user_id is None:
        raise Unauthorized("Sign in to filter your own images by visibility.")
    dialect = session.get_bind().dialect.name
    tags = list(dict.fromkeys(t.strip().lower() for t in filters.tags if t.strip()))
    params = _params(caller, filters, tags)
    if terms:
        params["q"] = query_text(dialect, terms)
    shape = Shape(
        dialect=dialect,
        caller="admin" if caller.admin else "anonymous" if caller.user_id is None else "user",
        tags=len(tags),
        present=frozenset(name for name in params if name in _SCALARS),
        text=bool(terms),
        matches_first=bool(terms) and await few_matches(session, terms),
        sort=sort,
        after=cursor is not None and sort != "relevance",
        grants=caller.user_id is not None
        and not caller.admin
        and bool(await session.scalar(_HOLDS_GRANTS, {"me": caller.user_id})),
    )
    statements = build(shape)
    offset = (page - 1) * limit
    if sort == "relevance":
        # Ranks are floats that move as the index changes: relevance pages by
        # offset (the cursor carries it) rather than by key.
        if cursor is not None:
            offset = _offset(cursors.decode(cursor, "relevance"))
        params["candidates"] = RELEVANCE_CANDIDATES
    elif cursor is not None:
        params |= _after_values(sort, cursors.decode(cursor, sort))
    params |= {"offset": offset, "limit": limit + 1, "n": offset + limit + 1}
    rows = (await session.execute(statements.rows, params)).all()
    images = [r.Image for r in rows[:limit]]
    following = None
    if len(rows) > limit:
        if sort == "relevance":
            following = cursors.encode(sort, [offset + limit])
        else:
            k0, k1 = rows[limit - 1].k0, rows[limit - 1].k1
            following = cursors.encode(sort, [k0 if sort == "most_viewed" else k0.isoformat(), k1])
    if cursor is not None:
        return Page(images, None, following)
    shown = offset + len(images)
    last = following is None and (bool(images) or offset == 0)
    # On the last page, what it shows and what it skipped is everything (for
    # relevance: when every match was a candidate), and nothing is counted.
    if last and (sort != "relevance" or shown < RELEVANCE_CANDIDATES):
        total = shown
    else:
        total = await _count(session, statements.counts, params)
    total, capped = min(total, COUNT_CAP), total > COUNT_CAP
    if sort == "relevance" and total > RELEVANCE_CANDIDATES:
        total, capped = RELEVANCE_CANDIDATES, True
    return Page(images, total, following, capped)


async def _count(session: AsyncSession, counts: list[Select[Any]], params: dict[str, Any]) -> int:
    """Up to ``COUNT_CAP + 1`` matches, part by part: once what anyone may see
    reaches the cap (a popular listing), the caller's own hidden images and
    their grants are not counted at all."""
    total = 0
    for count in counts:
        params["cap"] = COUNT_CAP + 1 - total
        total += int(await session.scalar(count, params) or 0)
        if total > COUNT_CAP:
            break
    return total


_HOLDS_GRANTS = holds_grants(bindparam("me", type_=String()))

# Filters that name a bound value (tags and the text are counted apart).
_SCALARS = frozenset(
    {
        "user",
        "album",
        "org",
        "visibility",
        "format",
        "uploaded_from",
        "uploaded_to",
        "taken_from",
        "taken_to",
        "make",
        "model",
        "min_width",
        "min_height",
    }
)


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
