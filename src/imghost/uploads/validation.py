"""Where and how an upload is checked: bounded, killable, fair, and cancelled
when its client goes away.

1. A file of 1 MB or more, or an animation, waits for a slot of the
   :class:`FairGate` (per-user fairness), then is checked in a pixel-pool
   process under the validation time budget: past it, or when the client
   disconnects, that one process is killed. The gate is the only admission to
   those processes: validation never waits behind renders or jobs.
2. A smaller file is checked in a thread, under the same time budget and
   cancelled if the client leaves (the thread itself runs on, but only ever
   gets bounded work): its container is walked first, at most
   THREAD_MAX_CHUNKS chunks (the cost of a header read grows with those, not
   with pixels); more, several frames or 4 MP and more send it to the pool.
   A small still image is over in milliseconds. Measured (64x48 PNG): 2.4 ms
   in a thread, 1.6 ms in a warm pool process, but 90-220 ms when a process
   must be started first: a small still must never wait behind large files.

The routes that validate uploads declare the :func:`validation_scope`
dependency; it makes the app's pool and gate (a :class:`Validation` the
composition root hands over as ``app.state.validation``), and the request
whose disconnect cancels the check, reachable from the services below them.
Without it (services called directly, e.g. by tests or commands) the check
runs in a thread with the same header limits.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, TypeVarTuple

from fastapi import Depends
from starlette.requests import Request

from imghost.concurrency import run_cpu_bound
from imghost.errors import AppError
from imghost.imaging.frames import count_frames
from imghost.imaging.probe import ProbeResult, frames_of, opened, probe, sniffed
from imghost.processing.pool import PixelJobTimeout, PixelPool
from imghost.processing.runner import POOL_MIN_PIXELS
from imghost.settings import Settings
from imghost.uploads.admission import FairGate

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

# Below these, a still image is checked in a thread (a 4 MP decode is ~50 ms).
THREAD_MAX_PIXELS = POOL_MIN_PIXELS
# Far below processing.runner.POOL_MIN_BYTES: a file arriving here is unchecked,
# and Pillow's header read grows with its chunks, i.e. its bytes (a 0.96 MB PNG
# of 80,000 empty chunks took 1.2 s); routing by size needs no read at all.
THREAD_MAX_BYTES = 1_000_000
# Real small stills have tens of chunks (GIF: one per 255 bytes, < 4,000).
THREAD_MAX_CHUNKS = 5_000


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


class Validation:
    """An app's admission to its pixel pool for checks: one per app, built by
    the composition root. The gate is made by the first check that needs it."""

    def __init__(self, settings: Settings, pool: PixelPool) -> None:
        self.settings = settings
        self.pool = pool
        self.gate: FairGate | None = None

    def scope(self, request: Request) -> Scope:
        if self.gate is None:
            self.gate = gate_for(self.settings, self.pool)
        return Scope(self.pool, self.gate, request)


async def validation_scope(request: Request) -> None:
    """FastAPI dependency of the routes that validate uploads (see module doc)."""
    validation: Validation = request.app.state.validation
    _scope.set(validation.scope(request))


def check_if_small(path: Path, settings: Settings) -> ProbeResult | None:
    """:func:`probe` for a small still image (in a thread); None when the file
    is for the pool. Its container is walked first, at most THREAD_MAX_CHUNKS
    chunks, before Pillow opens it."""
    fmt = sniffed(path)
    walked = count_frames(path, fmt.name, 1, THREAD_MAX_CHUNKS)
    if walked is not None and (walked.count > 1 or walked.chunks > THREAD_MAX_CHUNKS):
        return None
    with opened(path, fmt) as (img, _):
        width, height = img.size
        counted = frames_of(img, walked)
        pixels = max(width * height, counted.width * counted.height)
        if counted.count > 1 or pixels >= THREAD_MAX_PIXELS:
            return None
    return _probe(path, settings)


def _probe(path: Path, settings: Settings) -> ProbeResult:
    return probe(
        path,
        settings.max_pixels,
        settings.max_frames,
        settings.max_total_pixels,
        settings.max_image_chunks,
    )


def _too_complex(settings: Settings) -> AppError:
    return AppError(
        422,
        "image_too_complex",
        f"Checking this image took longer than {settings.validation_timeout:g} s; "
        "it was refused. Simplify it (fewer or smaller frames) and upload it again.",
    )


async def run_validation(path: Path, settings: Settings, owner_id: str) -> ProbeResult:
    """Check the file at ``path`` for ``owner_id`` (ProbeError/AppError when refused;
    PixelWorkerDied when its process died)."""
    scope = _scope.get()
    if scope is None:
        return await _timed(_in_thread(_probe, path, settings), settings)
    if path.stat().st_size < THREAD_MAX_BYTES:  # noqa: ASYNC240 - one metadata op
        # Milliseconds of work: the thread limiter bounds it, and no slot of the
        # pool (nor a place in the fair queue) is spent on it.
        work = _in_thread(check_if_small, path, settings)
        checked = await _unless_gone(scope.request, _timed(work, settings))
        if checked is not None:
            return checked
    try:
        # The wait for a slot is cancelled too if the client goes away.
        return await _unless_gone(scope.request, _in_pool(scope, path, settings, owner_id))
    except PixelJobTimeout as exc:
        raise _too_complex(settings) from exc


async def _in_pool(scope: Scope, path: Path, settings: Settings, owner_id: str) -> ProbeResult:
    # The gate admits at most pool.workers checks at once: they take no slot
    # of the pool's own semaphore, so renders and jobs never hold them up.
    async with scope.gate.admit(owner_id):
        return await scope.pool.run(
            settings.validation_timeout,
            probe,
            path,
            settings.max_pixels,
            settings.max_frames,
            settings.max_total_pixels,
            settings.max_image_chunks,
            take_slot=False,
        )


async def _in_thread(fn: Callable[[*Ts], T], *args: *Ts) -> T:
    """``fn(*args)`` in a decode thread; cancelling the caller frees it at once.

    anyio waits for the thread even when its caller is cancelled: the time
    budget and the disconnect would free nobody. The thread keeps its decode
    slot until it ends (it only ever gets bounded work, see _timed)."""
    task = asyncio.ensure_future(run_cpu_bound("decode", fn, *args))
    task.add_done_callback(_retrieve)
    return await asyncio.shield(task)


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # an abandoned thread's error is not worth a warning


async def _timed(work: Awaitable[T], settings: Settings) -> T:
    # A thread cannot be killed: it is only ever given bounded work (a small
    # file of few chunks; without a scope, a file within every limit), so this
    # budget is a backstop that frees the caller.
    try:
        async with asyncio.timeout(settings.validation_timeout + 1):
            return await work
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
