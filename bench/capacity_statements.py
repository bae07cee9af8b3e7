"""Count the SQL statements one piece of work sends, in this process.

A SQLAlchemy ``before_cursor_execute`` listener on every engine adds one to the
counter of the work in progress. The work is named by a context variable, set
around the request or the job run: work the request starts (its tasks, threads,
greenlets) inherits the name, while the app's own background loops (view
flushes, refreshes), started before and outside it, do not. So the count is
the request's own, whatever else the process does meanwhile: the same on every
run.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections import Counter
from collections.abc import Iterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

_current: contextvars.ContextVar[Counter[str] | None] = contextvars.ContextVar(
    "imghost_bench_statements", default=None
)


def _count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
    counter = _current.get()
    if counter is not None:
        # The first word says what kind: SELECT, INSERT, UPDATE, DELETE, BEGIN...
        counter[statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "?"] += 1


@contextlib.contextmanager
def listening() -> Iterator[None]:
    """Count while inside (on every engine, those made later included)."""
    event.listen(Engine, "before_cursor_execute", _count)
    try:
        yield
    finally:
        event.remove(Engine, "before_cursor_execute", _count)


@contextlib.contextmanager
def counting() -> Iterator[Counter[str]]:
    """The statements sent by the work done inside, by kind (needs :func:`listening`)."""
    counter: Counter[str] = Counter()
    token = _current.set(counter)
    try:
        yield counter
    finally:
        _current.reset(token)
