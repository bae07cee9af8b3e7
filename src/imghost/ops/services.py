"""What an API process holds for its operators' routes: the readiness checks,
the scrape-time figures, and who may read the metrics. Built by the
composition root (``app.py``) once the app's context exists."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imghost import metrics
from imghost.errors import NotFound, Unauthorized
from imghost.ops.readiness import Check, Readiness, Revisions, failing
from imghost.ops.scrape import ScrapeFigures
from imghost.settings import Settings
from imghost.storage import BlobStore

__all__ = ["Check", "Ops", "Revisions", "failing"]


@dataclass
class Ops:
    readiness: Readiness
    figures: ScrapeFigures
    token: str

    @classmethod
    def build(
        cls,
        sessions: async_sessionmaker[AsyncSession],
        store: BlobStore,
        settings: Settings,
        revisions: Callable[[], Revisions],
    ) -> Ops:
        readiness = Readiness(sessions, store, settings, revisions)
        volumes = {"staging": str(store.staging_dir)}
        if settings.storage_url.startswith("file://"):
            volumes["blobs"] = settings.storage_url.removeprefix("file://")
        figures = ScrapeFigures(sessions, readiness, volumes, settings.ready_timeout)
        return cls(readiness, figures, settings.metrics_token)

    async def close(self) -> None:
        await self.readiness.close()

    def authorize(self, authorization: str | None) -> None:
        """Let a scraper with the token through: 404 when metrics are off (no token
        set: nothing says they exist), 401 for a missing or wrong token."""
        if not self.token:
            raise NotFound("There is nothing at this URL.")
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), self.token.encode()
        ):
            raise Unauthorized("Send `Authorization: Bearer <IMGHOST_METRICS_TOKEN>`.")

    async def scrape(self) -> bytes:
        """The Prometheus text: every process's files and the scrape-time figures."""
        await self.figures.refresh()
        # Reading every process's files is blocking file I/O.
        return await asyncio.to_thread(metrics.render, [self.figures])
