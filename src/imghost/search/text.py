"""Full-text queries per backend: words in, a match condition and a rank out.

Every word of the query must match, as a word stem or a prefix ("cat" finds
"cats" and "caterpillar"). Only letters and digits are kept, so no query
syntax of either engine can be injected. Rank: lower is better on both.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    ScalarSelect,
    Select,
    column,
    exists,
    func,
    literal_column,
    select,
    table,
    text,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import FromClause, NamedFromClause

from imghost.db import UTCDateTime

MAX_WORDS = 10
_WORD = re.compile(r"[^\W_]+")

# With copies of the image's owner, upload time and `listed` flag (kept by
# search.index and a trigger), so text listings walk this table alone.
image_search = table(
    "image_search",
    column("rowid"),
    column("image_id"),
    column("document"),
    column("owner_id"),
    column("created_at", UTCDateTime()),
    column("listed", Boolean()),
)
image_fts = table("image_fts", column("rowid"))


def words(q: str) -> list[str]:
    return _WORD.findall(q.lower())[:MAX_WORDS]


_FTS: ColumnElement[str] = literal_column("image_fts")


def _fts_text(terms: list[str]) -> str:
    return " AND ".join(f'"{term}"*' for term in terms)


def _tsquery_text(terms: list[str]) -> str:
    return " & ".join(f"{term}:*" for term in terms)


def query_text(dialect: str, terms: list[str]) -> str:
    """The terms as the engine's query text, bound as ``query`` in
    ``matching`` and ``ranked``: every term, as a word stem or a prefix."""
    return _fts_text(terms) if dialect == "sqlite" else _tsquery_text(terms)


def _tsquery(query: ColumnElement[str]) -> ColumnElement[Any]:
    return func.to_tsquery("english", query)


def _sqlite_hits() -> Select[Any]:
    return select(image_search.c.image_id).select_from(
        image_fts.join(image_search, image_search.c.rowid == image_fts.c.rowid)
    )


#: Below this many matches (estimated) a text query reads its matches first.
FEW_MATCHES = 5_000


async def few_matches(session: AsyncSession, terms: list[str]) -> bool:
    """Whether the terms match few enough images to read every match and sort
    them, rather than walk a listing in order testing each image.

    PostgreSQL's planner estimates the matches from the GIN statistics but
    prices each test of an image too low, so for a rare word it walks the
    whole listing; its estimate itself is good enough to choose. SQLite: FTS5
    counts the first ``FEW_MATCHES`` matches in C in about a millisecond.
    """
    if session.get_bind().dialect.name == "sqlite":
        expression = _fts_text(terms)
        counted = text(
            "SELECT count(*) FROM (SELECT rowid FROM image_fts WHERE image_fts MATCH :query "
            "LIMIT :cap)"
        ).bindparams(query=expression, cap=FEW_MATCHES)
        return int(await session.scalar(counted) or 0) < FEW_MATCHES
    estimate = text(
        "EXPLAIN (FORMAT JSON) SELECT 1 FROM image_search "
        "WHERE document @@ to_tsquery('english', :query)"
    ).bindparams(query=_tsquery_text(terms))
    return _plan_rows(await session.scalar(estimate)) < FEW_MATCHES


def _plan_rows(plan: Any) -> float:
    document = json.loads(plan) if isinstance(plan, str) else plan
    return float(document[0]["Plan"]["Plan Rows"])


def matching(
    dialect: str, query: ColumnElement[str], image_id: ColumnElement[str], *, first: bool
) -> ColumnElement[bool]:
    """The image (``image_id``, a column of the outer query) matches the query
    (``query_text``, usually a bound parameter).

    ``first``: the matches are few; they are read first and the listing keeps
    those. Otherwise each image the listing walks is tested on its own.
    """
    if dialect == "sqlite":
        if first:
            return image_id.in_(_sqlite_hits().where(_FTS.op("MATCH")(query)))
        # The matching rowids come straight from FTS5's doclists (fast, in C)
        # into a set SQLite builds once; each image the listing walks is
        # looked up in it by its index rowid. (Asking FTS5 about one rowid at
        # a time costs a whole query per image.)
        return _sqlite_rowid(image_id).in_(select(image_fts.c.rowid).where(_FTS.op("MATCH")(query)))
    # Correlated either way: PostgreSQL reads the GIN index first when the
    # listing's order is out of its reach (see services), else probes.
    return exists(
        select(image_search.c.image_id).where(
            image_search.c.image_id == image_id,
            image_search.c.document.op("@@")(_tsquery(query)),
        )
    )


@dataclass(frozen=True)
class Hits:
    """Where a statement starts that needs only some matches and no order, such
    as a capped count: the text index's matches, in its own order, joined to
    the listing's row by ``on``. Such a count stops after the cap instead of
    walking a listing until it has seen enough matches."""

    source: FromClause
    on: ColumnElement[bool]
    where: ColumnElement[bool]


def hits(
    dialect: str,
    query: ColumnElement[str],
    image_id: ColumnElement[str],
    row: NamedFromClause | None = None,
) -> Hits:
    """``row``: the listing walks ``text_row`` (SQLite joins it by rowid)."""
    if dialect == "sqlite":
        match = _FTS.op("MATCH")(query)
        if row is not None:
            return Hits(image_fts, row.c.rowid == image_fts.c.rowid, match)
        found = _sqlite_hits().where(match).subquery("hits")
    else:
        found = (
            select(image_search.c.image_id)
            .where(image_search.c.document.op("@@")(_tsquery(query)))
            .subquery("hits")
        )
    return Hits(found, image_id == found.c.image_id, true())


def text_row() -> NamedFromClause:
    """The text index row a text listing walks (like ``image_tags`` for tags)."""
    return image_search.alias("s0")


def row_matches(
    dialect: str, query: ColumnElement[str], row: NamedFromClause, *, first: bool
) -> ColumnElement[bool]:
    """``row`` (``text_row``, the listing's own row) matches the query.

    ``first``: the matches are few; the database reads them and sorts them.
    Otherwise it walks the row's index in the listing's order and tests each
    row: SQLite against the set of matching rowids FTS5 returns (the ``+ 0``
    keeps it from driving the walk from that set), PostgreSQL by the row's
    own document (the caller fences the order off when matches are few).
    """
    if dialect == "sqlite":
        rowid = row.c.rowid if first else row.c.rowid + 0
        return rowid.in_(select(image_fts.c.rowid).where(_FTS.op("MATCH")(query)))
    return row.c.document.op("@@")(_tsquery(query))


def _sqlite_rowid(image_id: ColumnElement[str]) -> ScalarSelect[Any]:
    """The image's rowid in the text index, correlated to the listing."""
    return (
        select(image_search.c.rowid)
        .where(image_search.c.image_id == image_id)
        .correlate_except(image_search)
        .scalar_subquery()
    )


def ranked(dialect: str, query: ColumnElement[str], candidates: Select[Any]) -> Select[Any]:
    """(image_id, rank) of the matching images among ``candidates`` (a select
    of image ids); lower rank is better. Each candidate is ranked on its own,
    never every match of the terms."""
    if dialect == "sqlite":
        # bm25 only works inside the MATCH query: FTS5 walks the matches once
        # and scores the candidates' rowids. The `+ 0` keeps SQLite from
        # handing the rowids to FTS5 as lookups, one whole query per candidate.
        # The candidates' rowids also bound the walk: FTS5 skips the parts of
        # its doclists outside them (rowids grow with upload time, so the
        # newest matches lie close together). Used thrice: a CTE, which
        # SQLite builds once.
        wanted = (
            select(image_search.c.rowid)
            .where(image_search.c.image_id.in_(candidates))
            .cte("wanted")
        )
        lowest = select(func.min(wanted.c.rowid)).scalar_subquery()
        highest = select(func.max(wanted.c.rowid)).scalar_subquery()
        # bm25 column weights: title, tags, description, file name.
        rank: ColumnElement[float] = func.bm25(_FTS, 10.0, 5.0, 2.0, 1.0)
        return (
            _sqlite_hits()
            .add_columns(rank.label("rank"))
            .where(
                _FTS.op("MATCH")(query),
                (image_fts.c.rowid + 0).in_(select(wanted.c.rowid)),
                image_fts.c.rowid.between(lowest, highest),
            )
        )
    document = image_search.c.document
    return select(
        image_search.c.image_id, (-func.ts_rank(document, _tsquery(query))).label("rank")
    ).where(image_search.c.image_id.in_(candidates))
