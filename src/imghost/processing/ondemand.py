"""Rendering a derivative on first request: single-flight and bounded.

- Single-flight: concurrent requests for the same missing derivative in one
  process share one render (the stored result serves everyone after).
- Bounded: renders of *transforms* (arbitrary sizes) are limited per image
  and per client within a sliding minute, so random sizes cannot be used to
  burn CPU; presets are a fixed set and are not limited.
- Stored where its kind belongs: a transform or an AVIF preset goes to the
  rendition cache (bounded, evicted, counted against no quota; see
  processing.rendition_cache), so viewers cannot fill the owner's quota or the
  disk; a missing pre-generated preset (still processing) is stored and
  counted like the processing job's, which writes the same key.
- Rendered from the smallest stored preset large enough, when the rendition
  is one made only on request (see processing.render_source); from the
  original otherwise, and whenever the preset fails to serve.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from imghost.errors import AppError
from imghost.images import services as images
from imghost.images.services import DeliveryFacts
from imghost.imaging.probe import ProbeError
from imghost.imaging.render import RenderSpec
from imghost.imaging.rescale import render_from_copy
from imghost.processing.deps import ProcessingDeps
from imghost.processing.pixels import render_one
from imghost.processing.pool import PixelJobTimeout, PixelWorkerDied
from imghost.processing.render_source import (
    Original,
    PresetSource,
    may_use_presets,
    preset_source,
)
from imghost.processing.rendition_cache import RenditionCache, is_rendition
from imghost.processing.runner import run_pixels
from imghost.quotas import services as quotas
from imghost.storage import BlobNotFound

log = logging.getLogger(__name__)

WINDOW = 60.0
PER_IMAGE = 20  # new transform renders per image per minute
PER_CLIENT = 60  # new transform renders per client per minute


@dataclass
class _Window:
    hits: deque[float] = field(default_factory=deque)

    def allow(self, now: float, limit: int) -> float | None:
        """None when allowed (and counted); else seconds until a slot frees."""
        while self.hits and self.hits[0] <= now - WINDOW:
            self.hits.popleft()
        if len(self.hits) >= limit:
            return self.hits[0] + WINDOW - now
        self.hits.append(now)
        return None


class OnDemandRenderer:
    """One per process (built by the composition root): its budgets and the
    renders in flight are this process's."""

    def __init__(self, deps: ProcessingDeps) -> None:
        self.deps = deps
        self._inflight: dict[str, asyncio.Future[bytes]] = {}
        self._per_image: dict[str, _Window] = {}
        self._per_client: dict[str, _Window] = {}
        self.cache = RenditionCache(deps)

    def _check_budget(self, image_id: str, client: str) -> None:
        now = time.monotonic()
        self._forget_idle(now)
        for table, key, limit, whom in (
            (self._per_image, image_id, PER_IMAGE, "this image"),
            (self._per_client, client, PER_CLIENT, "you"),
        ):
            wait = table.setdefault(key, _Window()).allow(now, limit)
            if wait is not None:
                raise AppError(
                    429,
                    "rate_limited",
                    f"Too many new image sizes were requested for {whom}; "
                    "try again shortly or use a preset size.",
                    headers={"Retry-After": str(max(int(wait) + 1, 1))},
                )

    def _forget_idle(self, now: float) -> None:
        # Bounded memory: once the tables grow, drop keys with no hit in the window.
        for table in (self._per_image, self._per_client):
            if len(table) > 10_000:
                for key in [
                    k for k, w in table.items() if not w.hits or w.hits[-1] <= now - WINDOW
                ]:
                    del table[key]

    async def render(
        self,
        *,
        image: DeliveryFacts,
        target_key: str,
        spec: RenderSpec,
        client: str,
        bounded: bool,
    ) -> bytes:
        original = Original(
            image.id, image.blob_key, image.width, image.height, image.frames, image.format
        )
        running = self._inflight.get(target_key)
        if running is not None:
            return await asyncio.shield(running)
        if bounded:
            self._check_budget(original.image_id, client)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._inflight[target_key] = future
        try:
            if is_rendition(target_key):
                data = await self._from_preset(original, spec)
                if data is None:
                    data = await self._render(original, spec)
                # Kept if it fits the cache's bounds; served either way.
                await self.cache.store(original.image_id, target_key, data)
            else:
                # A pre-generated preset the job has not stored yet: made from
                # the original, as the job makes it.
                data = await self._render(original, spec)
                await self.deps.store.put_bytes(target_key, data)
                await self._count(original.image_id, target_key, len(data))
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters, if any, re-raise it
            raise
        else:
            future.set_result(data)
            return data
        finally:
            del self._inflight[target_key]

    async def _count(self, image_id: str, blob_key: str, size: int) -> None:
        """Count a pre-generated preset rendered before the processing job stored
        it in the owner's storage (never refused; the job's write of the same key
        replaces its size).

        Committed in a session of its own: the render is shared by every request
        waiting for it, so it belongs to none of their transactions. Best effort:
        a failure here must not fail the request that rendered it."""
        try:
            async with self.deps.sessions() as session:
                await quotas.derivatives_written(
                    session, self.deps.settings, image_id, {blob_key: size}
                )
                await session.commit()
        except Exception:
            log.warning("could not count derivative %s", blob_key, exc_info=True)

    @asynccontextmanager
    async def _spooled(self, key: str) -> AsyncIterator[Path]:
        """The blob at ``key`` in a staging file (decrypted), removed after use."""
        spool = self.deps.store.staging_dir / f"render-{uuid.uuid4().hex}"
        try:
            await self.deps.store.download(key, spool)
            yield spool
        finally:
            spool.unlink(missing_ok=True)

    async def _source(self, original: Original, spec: RenderSpec) -> PresetSource | None:
        if not may_use_presets(original, spec):
            return None  # no query for an image whose presets never stand in
        alpha: bool | None = False  # a JPEG has none, and needs no query to say so
        if original.format != "jpeg":
            try:
                async with self.deps.sessions() as session:
                    alpha = await images.has_alpha(session, original.image_id)
            except Exception:  # not known: the WebP preset, which keeps alpha if any
                log.warning("could not read %s's alpha flag", original.image_id, exc_info=True)
                alpha = None
        return preset_source(original, spec, alpha)

    async def _from_preset(self, original: Original, spec: RenderSpec) -> bytes | None:
        """``spec`` rendered from the smallest preset that covers it, or None
        when the original must serve (none does, or it failed to)."""
        source = await self._source(original, spec)
        if source is None:
            return None
        deps = self.deps
        try:
            async with self._spooled(source.key) as path:
                rendered = await run_pixels(
                    deps.pixels,
                    deps.settings.job_timeout,
                    source.pixels,
                    0,
                    render_from_copy,
                    path,
                    (original.width, original.height),
                    spec,
                    deps.settings.max_pixels,
                )
        except BlobNotFound:
            return None  # not stored yet (still processing) or lost: the original serves
        except ProbeError as exc:
            log.warning("preset %s undecodable (%s); using the original", source.key, exc.detail)
            return None
        except (MemoryError, TimeoutError, PixelJobTimeout, PixelWorkerDied) as exc:
            raise _unavailable() from exc
        if rendered is None:
            log.warning("preset %s is not the size expected; using the original", source.key)
            return None
        return rendered.data

    async def _render(self, original: Original, spec: RenderSpec) -> bytes:
        deps = self.deps
        try:
            async with self._spooled(original.key) as path:
                rendered = await run_pixels(
                    deps.pixels,
                    deps.settings.job_timeout,
                    original.pixels,
                    0,
                    render_one,
                    str(path),
                    spec,
                    deps.settings.max_pixels,
                )
        except BlobNotFound as exc:
            raise AppError(
                503, "blob_unavailable", "The image's bytes are temporarily unavailable."
            ) from exc
        except ProbeError as exc:
            raise AppError(
                409, "image_failed", f"This image cannot be rendered: {exc.detail}"
            ) from exc
        except (MemoryError, TimeoutError, PixelJobTimeout, PixelWorkerDied) as exc:
            raise _unavailable() from exc
        return rendered.data


def _unavailable() -> AppError:
    return AppError(
        503,
        "render_unavailable",
        "The server could not render this size right now; try again later.",
        headers={"Retry-After": "30"},
    )
