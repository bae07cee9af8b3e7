"""Shared by the sharing tests."""

from __future__ import annotations

import anyio
from sqlalchemy.sql.expression import Executable

from imghost.db import create_engine, session_factory
from tests.conftest import LiveServer


def run_sql(live: LiveServer, *statements: Executable) -> None:
    """Change rows behind the API's back (expiry, rows an API does not create)."""

    async def main() -> None:
        engine = create_engine(live.settings.database_url)
        try:
            async with session_factory(engine)() as session:
                for statement in statements:
                    await session.execute(statement)
                await session.commit()
        finally:
            await engine.dispose()

    anyio.run(main)
