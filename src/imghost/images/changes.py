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


# Who hears of changes: the hooks below are installed once per process and tell
# every listener (each app context's cache, a test's probe) of each commit.
_listeners: list[Callable[[set[str] | None], None]] = []


def watch(changed: Callable[[set[str] | None], None]) -> Callable[[], None]:
    """Call ``changed(ids)`` (``None``: unknown rows) after each commit that changed
    images, through any session of this process: a command such as a takedown
    builds its own session factory, and the app's caches must hear of it too.
    Returns the function that stops watching."""
    if not event.contains(Session, "after_commit", _committed):
        for name, hook in _HOOKS:
            event.listen(Session, name, hook)
    _listeners.append(changed)

    def stop() -> None:
        if changed in _listeners:
            _listeners.remove(changed)

    return stop


def _note(session: Session, ids: set[str]) -> None:
    session.info.setdefault(CHANGED, set()).update(ids)


def _flushed(session: Session, _: UOWTransaction) -> None:
    ids = {obj.id for obj in (*session.dirty, *session.deleted) if isinstance(obj, Image)}
    if ids:
        _note(session, ids)


def _executed(state: ORMExecuteState) -> None:
    if (state.is_update or state.is_delete) and _on_images(state):
        _note(state.session, {EVERY})


def _committed(session: Session) -> None:
    ids: set[str] | None = session.info.pop(CHANGED, None)
    if ids:
        for listener in list(_listeners):
            listener(None if EVERY in ids else ids)


def _rolled_back(session: Session, previous: SessionTransaction) -> None:
    if previous.parent is None:
        session.info.pop(CHANGED, None)


def _on_images(state: ORMExecuteState) -> bool:
    table = getattr(state.statement, "table", None)
    return table is not None and getattr(table, "name", None) == Image.__tablename__


_HOOKS: tuple[tuple[str, Any], ...] = (
    ("after_flush", _flushed),
    ("do_orm_execute", _executed),
    ("after_commit", _committed),
    ("after_soft_rollback", _rolled_back),
)
