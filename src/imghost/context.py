"""What a running app holds: settings, the database, the blob store.

Built once by ``create_app``'s lifespan (or by a CLI command / worker) and
reached from requests through ``request.app.state.ctx``.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import imghost.models  # noqa: F401 - every mapper registered before any ORM use
from imghost.analytics.counter import ViewCounter
from imghost.auth.services import TokenSettings
from imghost.auth.throttle import LoginThrottle
from imghost.db import create_engine, session_factory
from imghost.imaging.sniff import sniff
from imghost.processing.pool import PixelPool
from imghost.reads import FastReader, fast_reader
from imghost.settings import Settings
from imghost.signing import SigningKeys
from imghost.storage import BlobStore, open_store
from imghost.storage.factory import open_resumable
from imghost.storage.resumable import ResumableStore

if TYPE_CHECKING:
    from imghost.processing.ondemand import OnDemandRenderer


def sniffed_type(head: bytes) -> str | None:
    found = sniff(head)
    return found.mime if found else None


def _renderer() -> OnDemandRenderer:
    from imghost.processing.ondemand import OnDemandRenderer  # it imports this module

    return OnDemandRenderer()


@dataclass
class AppContext:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    store: BlobStore
    # Where tus uploads keep their bytes until they are whole.
    resumable: ResumableStore
    reads: FastReader
    # Process pool for pixel work (jobs and on-demand renders); processes start
    # on first use, so a server that never renders big images never forks.
    pixels: PixelPool
    # Failed-login and sign-up counters (memory, or Redis when configured).
    logins: LoginThrottle
    # Renders missing derivatives on request (single-flight, bounded).
    renderer: OnDemandRenderer = field(default_factory=lambda: _renderer())
    # Views, downloads and bytes served, buffered until the next analytics flush.
    views: ViewCounter = field(default_factory=ViewCounter)
    # Set by an in-process worker so requests that enqueue work can wake it.
    wake_jobs: Callable[[], None] = field(default=lambda: None)

    @functools.cached_property
    def signing_keys(self) -> SigningKeys:
        return SigningKeys.parse(self.settings.signing_keys, self.settings.secret_key)

    @property
    def tokens(self) -> TokenSettings:
        return TokenSettings(
            self.settings.secret_key,
            self.settings.access_token_ttl,
            self.settings.refresh_token_ttl,
        )

    @classmethod
    def build(cls, settings: Settings) -> AppContext:
        engine = create_engine(settings.database_url, pool_timeout=settings.db_pool_timeout)
        store = open_store(settings.storage_url, settings.tmp_dir)
        return cls(
            settings=settings,
            engine=engine,
            sessions=session_factory(engine),
            store=store,
            resumable=open_resumable(
                store, settings.storage_url, settings.s3_part_size, sniffed_type
            ),
            reads=fast_reader(settings.database_url, engine),
            pixels=PixelPool(
                settings.worker_concurrency or max(os.cpu_count() or 1, 1),
                settings.job_memory_limit,
            ),
            logins=LoginThrottle(settings),
        )

    async def close(self) -> None:
        await self.store.close()
        await self.reads.close()
        await self.logins.close()
        await asyncio.to_thread(self.pixels.close)
        await self.engine.dispose()
