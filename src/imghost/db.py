"""Database engine, sessions and the declarative base.

One code path for SQLite (embedded default, WAL) and PostgreSQL (at scale). The
request, job or CLI command that opens a session owns its transaction;
services only flush.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on both backends.

    SQLite has no time zones and hands back naive values; we store UTC and
    re-attach the zone on the way out so comparisons never mix naive and aware.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError("UTCDateTime needs a datetime")
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def normalize_url(url: str) -> str:
    """Pick our async drivers for plain URLs (postgresql://, sqlite://)."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url


def is_sqlite(url: str) -> bool:
    return make_url(normalize_url(url)).get_backend_name() == "sqlite"


def ensure_sqlite_dir(url: str) -> None:
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers proceed during a write; busy_timeout makes concurrent
    # writers wait instead of failing with "database is locked".
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def create_engine(url: str, *, pool_timeout: float | None = None, **kwargs: Any) -> AsyncEngine:
    """``pool_timeout``: seconds a checkout may wait for a free connection.
    SQLAlchemy's default is 30 s; a request that waits that long has been
    given up by its client, and meanwhile it holds a worker. The API passes
    a few seconds and answers 503 ``server_busy`` (errors.py) instead."""
    url = normalize_url(url)
    if pool_timeout is not None and make_url(url).database not in (None, "", ":memory:"):
        # (An in-memory SQLite database has a single static connection, no queue.)
        kwargs.setdefault("pool_timeout", pool_timeout)
    if is_sqlite(url):
        ensure_sqlite_dir(url)
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_pre_ping", True)
    connect_args = kwargs.setdefault("connect_args", {})
    settings = connect_args.setdefault("server_settings", {})
    # asyncpg prepares every statement; after five runs PostgreSQL may switch
    # to a generic plan that ignores the values, and for listings the values
    # (which tag, which user, how rare a word) decide the plan: the search
    # benchmark measured generic plans 2-60x slower. Planning costs well under
    # a millisecond. JIT compilation only ever added 40-100 ms to these short
    # queries.
    settings.setdefault("plan_cache_mode", "force_custom_plan")
    settings.setdefault("jit", "off")
    # Parallel workers take milliseconds to start, more than any of the
    # service's queries should run; they pay off for reports, not requests.
    settings.setdefault("max_parallel_workers_per_gather", "0")
    return create_async_engine(url, **kwargs)


def session_factory(
    engine: AsyncEngine, info: dict[str, Any] | None = None
) -> async_sessionmaker[AsyncSession]:
    """``info``: copied into every session's ``info`` (what the composition root
    tells services that have no settings, e.g. whether a CDN purge is set up)."""
    # A Session class of this factory's own: session events bound to it (the
    # job queue's wake-up on commit) see this factory's sessions, not every app's.
    own: type[Session] = type("FactorySession", (Session,), {})
    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=own, info=info)
