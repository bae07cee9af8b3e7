"""Rows read and changed behind the API's back (expiries, admin flags, jobs)."""

from __future__ import annotations

from typing import Any

import anyio
from sqlalchemy import Row
from sqlalchemy.sql.expression import Executable

from imghost.db import create_engine, session_factory
from imghost.settings import Settings


def run_sql(settings: Settings, *statements: Executable) -> None:
    """Run ``statements`` in one transaction on the app's database, with its own types."""

    async def main() -> None:
        engine = create_engine(settings.database_url)
        try:
            async with session_factory(engine)() as session:
                for statement in statements:
                    await session.execute(statement)
                await session.commit()
        finally:
            await engine.dispose()

    anyio.run(main)


def fetch(settings: Settings, statement: Executable) -> list[Row[Any]]:
    """The rows ``statement`` reads from the app's database."""

    async def main() -> list[Row[Any]]:
        engine = create_engine(settings.database_url)
        try:
            async with session_factory(engine)() as session:
                return list((await session.execute(statement)).all())
        finally:
            await engine.dispose()

    return anyio.run(main)
