"""What a running app holds: settings, the database, the blob store.

Built once by ``create_app``'s lifespan (or by a CLI command / worker) and
reached from requests through ``request.app.state.ctx``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from imghost.auth.services import TokenSettings
from imghost.db import create_engine, session_factory
from imghost.reads import FastReader, fast_reader
from imghost.settings import Settings
from imghost.storage import BlobStore, open_store


@dataclass
class AppContext:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    store: BlobStore
    reads: FastReader

    @property
    def tokens(self) -> TokenSettings:
        return TokenSettings(
            self.settings.secret_key,
            self.settings.access_token_ttl,
            self.settings.refresh_token_ttl,
        )

    @classmethod
    def build(cls, settings: Settings) -> AppContext:
        engine = create_engine(settings.database_url)
        return cls(
            settings=settings,
            engine=engine,
            sessions=session_factory(engine),
            store=open_store(settings.storage_url, settings.tmp_dir),
            reads=fast_reader(settings.database_url, engine),
        )

    async def close(self) -> None:
        await self.store.close()
        await self.reads.close()
        await self.engine.dispose()
