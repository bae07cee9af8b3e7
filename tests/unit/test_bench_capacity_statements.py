"""Counting a piece of work's SQL statements (bench/capacity_statements.py): only the
work inside ``counting()`` and what it starts, never what runs beside it."""

from __future__ import annotations

import asyncio

from bench import capacity_statements as statements
from sqlalchemy import create_engine, text


def test_only_the_work_inside_is_counted_by_kind() -> None:
    engine = create_engine("sqlite://")
    with statements.listening(), engine.connect() as conn:
        conn.execute(text("SELECT 1"))  # outside: not counted
        with statements.counting() as counter:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
            conn.execute(text("select x from t"))
        conn.execute(text("SELECT 2"))
    assert counter == {"CREATE": 1, "INSERT": 1, "SELECT": 1}
    # Once the listener is gone nothing is counted, even inside.
    with engine.connect() as conn, statements.counting() as after:
        conn.execute(text("SELECT 1"))
    assert not after


def test_tasks_the_work_starts_count_and_a_loop_beside_it_does_not() -> None:
    engine = create_engine("sqlite://")

    def query(conn_text: str) -> None:
        with engine.connect() as conn:
            conn.execute(text(conn_text))

    async def main() -> dict[str, int]:
        beside_started = asyncio.Event()
        release = asyncio.Event()

        async def beside() -> None:  # started before the work: the app's own loops
            beside_started.set()
            await release.wait()
            query("SELECT 'beside'")

        loop_task = asyncio.create_task(beside())
        await beside_started.wait()
        with statements.counting() as counter:
            await asyncio.create_task(asyncio.to_thread(query, "SELECT 'started'"))
            release.set()
            await loop_task
            query("PRAGMA user_version")
        return dict(counter)

    with statements.listening():
        assert asyncio.run(main()) == {"SELECT": 1, "PRAGMA": 1}
