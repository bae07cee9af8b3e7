"""Where and how an upload is checked: bounded, killable, fair, and cancelled
when its client goes away.

1. The headers are read first (in a thread, no pixel decoded): a file over the
   frame, canvas or total-pixel limits is refused at once.
2. A small still image is decoded in a thread: it is over in milliseconds.
   Measured (64x48 PNG): 2.4 ms in a thread, 1.6 ms in a warm pool process,
   but 90-220 ms when a process must be started first, and the pool has one
   process per core, shared with processing jobs and hostile uploads: a small
   still must never wait behind those.
3. Anything large or animated waits for a slot of the :class:`FairGate`
   (per-user fairness), then is decoded in a pixel-pool process under the
   validation time budget: past it, or when the client disconnects, that one
   process is killed.

The routes that validate uploads declare the :func:`validation_scope`
dependency; it makes the app's pool and gate, and the request whose
disconnect cancels the check, reachable from the services below them.
Without it (services called directly, e.g. by tests or commands) the check
runs in a thread with the same header limits.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from fastapi import Depends
from starlette.requests import Request

from imghost.concurrency import run_cpu_bound
from imghost.errors import AppError
from imghost.imaging.probe import (
    ProbeResult,
    check_frames,
    check_pixels,
    frames_of,
    opened,
    probe,
)
from imghost.jobs.pool import PixelJobTimeout, PixelPool, PixelWorkerDied
from imghost.settings import Settings
from imghost.uploads.admission import FairGate

T = TypeVar("T")

# Below both, a still image is decoded in a thread (a 4 MP decode is ~50 ms).
THREAD_MAX_PIXELS = 4_000_000
THREAD_MAX_BYTES = 8_000_000


@dataclass(frozen=True)
class Scope:
    pool: PixelPool
    gate: FairGate
    request: Request | None


_scope: ContextVar[Scope | None] = ContextVar("imghost_validation_scope", default=None)


def gate_for(settings: Settings, pool: PixelPool) -> FairGate:
    return FairGate(
        slots=pool.workers,
        per_user=settings.validations_per_user,
        queue_per_user=settings.validation_queue_per_user,
        queue_total=settings.validation_queue,
        retry_after=settings.validation_timeout,
    )


async def validation_scope(request: Request) -> None:
    """FastAPI dependency of the routes that validate uploads (see module doc)."""
    ctx = request.app.state.ctx
    gate = getattr(request.app.state, "validation_gate", None)
    if gate is None:
        gate = request.app.state.validation_gate = gate_for(ctx.settings, ctx.pixels)
    _scope.set(Scope(ctx.pixels, gate, request))


@dataclass(frozen=True)
class Header:
    pixels: int  # of one frame
    frames: int


def read_header(path: Path, settings: Settings) -> Header:
    """The limits that headers alone decide (no pixel decoded)."""
    with opened(path) as (img, fmt):
        width, height = img.size
        check_pixels(width, height, settings.max_pixels)
        counted = frames_of(path, img, fmt, settings.max_frames)
        check_frames(counted, settings.max_pixels, settings.max_frames, settings.max_total_pixels)
        return Header(max(counted.width * counted.height, width * height), counted.count)


def _probe(path: Path, settings: Settings) -> ProbeResult:
    return probe(path, settings.max_pixels, settings.max_frames, settings.max_total_pixels)


def _too_complex(settings: Settings) -> AppError:
    return AppError(
        422,
        "image_too_complex",
        f"Checking this image took longer than {settings.validation_timeout:g} s; "
        "it was refused. Simplify it (fewer or smaller frames) and upload it again.",
    )


async def run_validation(path: Path, settings: Settings, owner_id: str) -> ProbeResult:
    """Check the file at ``path`` for ``owner_id`` (ProbeError/AppError when refused)."""
    scope = _scope.get()
    header = await run_cpu_bound("decode", read_header, path, settings)
    size = path.stat().st_size  # noqa: ASYNC240 - one metadata op
    small = header.frames == 1 and header.pixels < THREAD_MAX_PIXELS and size < THREAD_MAX_BYTES
    if scope is None or small:
        # Milliseconds of work: the thread limiter bounds it, and no slot of the
        # pool (nor a place in the fair queue) is spent on it.
        work: Awaitable[ProbeResult] = run_cpu_bound("decode", _probe, path, settings)
        request = scope.request if scope else None
        return await _unless_gone(request, _timed(work, settings))
    try:
        # The wait for a slot is cancelled too if the client goes away.
        return await _unless_gone(scope.request, _in_pool(scope, path, settings, owner_id))
    except PixelJobTimeout as exc:
        raise _too_complex(settings) from exc
    except PixelWorkerDied as exc:
        raise AppError(
            503,
            "insufficient_memory",
            "The server could not finish checking this image (out of memory?); try again later.",
            headers={"Retry-After": "30"},
        ) from exc


async def _in_pool(scope: Scope, path: Path, settings: Settings, owner_id: str) -> ProbeResult:
    async with scope.gate.admit(owner_id):
        return await scope.pool.run(
            settings.validation_timeout,
            probe,
            path,
            settings.max_pixels,
            settings.max_frames,
            settings.max_total_pixels,
        )


async def _timed(work: Awaitable[T], settings: Settings) -> T:
    # A thread cannot be killed: it is only ever given a small still image
    # (or, without a scope, a file within the header limits), so this budget
    # is a backstop that frees the caller.
    try:
        return await asyncio.wait_for(work, settings.validation_timeout + 1)
    except TimeoutError as exc:
        raise _too_complex(settings) from exc


async def _unless_gone(request: Request | None, work: Awaitable[T]) -> T:
    """Await ``work``; cancel it (killing its process) if the client disconnects."""
    if request is None:
        return await work
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not task.done():
            task.cancel()
        watcher.cancel()
        with contextlib.suppress(BaseException):
            await watcher
    if not task.done() or task.cancelled():
        with contextlib.suppress(BaseException):
            await task
        raise AppError(
            503,
            "client_disconnected",
            "The client closed the connection while its upload was being checked; "
            "the check was stopped.",
            headers={"Retry-After": "1"},
        )
    return task.result()


async def _disconnected(request: Request) -> None:
    # The body has been read whole before validation: what receive() brings
    # now is the disconnect (or nothing until the response is sent).
    while (await request.receive())["type"] != "http.disconnect":
        pass


#: ``dependencies=`` of every route that validates an upload.
CHECKS = [Depends(validation_scope)]
#: The same as a parameter default, for routes with several decorators.
CHECK = Depends(validation_scope)
