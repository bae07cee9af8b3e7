"""Full-text queries per backend: words in, a match condition and a rank out.

Every word of the query must match, as a word stem or a prefix ("cat" finds
"cats" and "caterpillar"). Only letters and digits are kept, so no query
syntax of either engine can be injected. Rank: lower is better on both.
"""

from __future__ import annotations

import re

from sqlalchemy import ColumnElement, Select, column, func, literal_column, select, table

MAX_WORDS = 10
_WORD = re.compile(r"[^\W_]+")

image_search = table("image_search", column("rowid"), column("image_id"), column("document"))
image_fts = table("image_fts", column("rowid"))


def words(q: str) -> list[str]:
    return _WORD.findall(q.lower())[:MAX_WORDS]


def matches(dialect: str, terms: list[str]) -> Select[tuple[str, float]]:
    """(image_id, rank) of the images matching every term."""
    if dialect == "sqlite":
        fts: ColumnElement[str] = literal_column("image_fts")
        expression = " AND ".join(f'"{term}"*' for term in terms)
        # bm25 column weights: title, tags, description, file name.
        rank: ColumnElement[float] = func.bm25(fts, 10.0, 5.0, 2.0, 1.0)
        return (
            select(image_search.c.image_id, rank.label("rank"))
            .select_from(image_fts.join(image_search, image_search.c.rowid == image_fts.c.rowid))
            .where(fts.op("MATCH")(expression))
        )
    query = func.to_tsquery("english", " & ".join(f"{term}:*" for term in terms))
    document = image_search.c.document
    return select(image_search.c.image_id, (-func.ts_rank(document, query)).label("rank")).where(
        document.op("@@")(query)
    )
