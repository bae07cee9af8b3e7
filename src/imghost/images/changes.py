"""Tell a listener which images a committed transaction changed.

Whatever changes an image (a request, a job, a command) goes through an ORM
session, so hooks on the Session class see every change made in this process
without each write path having to remember a call: the delivery path's
per-process facts cache forgets what changed the moment it is committed.

Changed rows are known for ORM objects (flushed as dirty or deleted). A bulk
``UPDATE``/``DELETE`` of images names its rows only in its WHERE clause, so it
reports "unknown" (``None``): the listener then forgets everything, which is
always safe. New images are not reported: nobody can have cached them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, UOWTransaction

from imghost.images.models import Image

CHANGED = "imghost.images.changed"
EVERY = "*"  # a bulk statement changed rows we cannot name


def _note(session: Session, ids: set[str]) -> None:
    session.info.setdefault(CHANGED, set()).update(ids)


def watch(changed: Callable[[set[str] | None], None]) -> Callable[[], None]:
    """Call ``changed(ids)`` (``None``: unknown rows) after each commit that changed
    images, through any session of this process: a command such as a takedown
    builds its own session factory, and the app's caches must hear of it too.
    Returns the function that stops watching."""
    target = Session

    def flushed(session: Session, _: UOWTransaction) -> None:
        ids = {obj.id for obj in (*session.dirty, *session.deleted) if isinstance(obj, Image)}
        if ids:
            _note(session, ids)

    def executed(state: ORMExecuteState) -> None:
        if (state.is_update or state.is_delete) and _on_images(state):
            _note(state.session, {EVERY})

    def committed(session: Session) -> None:
        ids: set[str] | None = session.info.pop(CHANGED, None)
        if ids:
            changed(None if EVERY in ids else ids)

    def rolled_back(session: Session, previous: SessionTransaction) -> None:
        if previous.parent is None:
            session.info.pop(CHANGED, None)

    hooks: list[tuple[str, Any]] = [
        ("after_flush", flushed),
        ("do_orm_execute", executed),
        ("after_commit", committed),
        ("after_soft_rollback", rolled_back),
    ]
    for name, hook in hooks:
        event.listen(target, name, hook)

    def stop() -> None:
        for name, hook in hooks:
            event.remove(target, name, hook)

    return stop


def _on_images(state: ORMExecuteState) -> bool:
    table = getattr(state.statement, "table", None)
    return table is not None and getattr(table, "name", None) == Image.__tablename__
