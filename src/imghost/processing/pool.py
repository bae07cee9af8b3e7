"""A process pool for CPU-bound pixel work, with per-call time and memory limits.

Decoding and encoding run in separate processes so one huge image neither
holds the GIL of the event loop nor stalls the other calls. Each process has
an address-space limit: an image that needs more fails its call with a
MemoryError instead of taking the machine down.

A call cannot be interrupted inside a process, only the process can be
killed. ``concurrent.futures.ProcessPoolExecutor`` can only stop all its
processes at once, so one caller that gave up (time limit, client gone)
failed every other caller's work. This pool is purpose-built: each call has
a process of its own for its duration, so a call that runs too long or whose
caller gives up kills exactly that process; the others run on, and a fresh
process replaces it on the next call.

Processes are started from a fork server (warm: the pixel modules are
imported once there) and die with it; the fork server exits when this process
does, even on ``kill -9`` (see :mod:`imghost.processing.orphans`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import resource
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar, TypeVarTuple

from imghost.processing.orphans import die_with_parent

log = logging.getLogger(__name__)

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

# Modules every pixel call needs, imported once in the fork server so each new
# process starts warm.
PRELOAD = [
    "imghost.imaging.render",
    "imghost.imaging.metadata",
    "imghost.imaging.scan",
    "imghost.imaging.probe",
]

# How long close() lets an idle process exit by itself before killing it.
_EXIT_GRACE = 1.0


class PixelJobTimeout(Exception):
    pass


class PixelWorkerDied(Exception):
    pass


def _limit_memory(limit: int) -> None:
    if limit > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _serve(conn: Connection, memory_limit: int) -> None:
    """A pool process: run calls received on ``conn`` until it closes."""
    die_with_parent()
    _limit_memory(memory_limit)
    while True:
        try:
            fn, args = conn.recv()
        except (EOFError, OSError):
            return
        try:
            reply: tuple[str, Any] = ("ok", fn(*args))
        except MemoryError as exc:
            # The heap may stay fragmented after hitting the limit: report,
            # then exit so the next call starts in a fresh process.
            _send(conn, ("err", exc))
            return
        except BaseException as exc:  # the caller's business, sent back as is
            reply = ("err", exc)
        _send(conn, reply)


def _send(conn: Connection, reply: tuple[str, Any]) -> None:
    try:
        conn.send(reply)  # pickled whole before any byte is written
    except (EOFError, OSError):
        raise SystemExit(0) from None  # the pool side is gone
    except Exception as exc:  # an unpicklable result or exception
        conn.send(("err", RuntimeError(f"{type(exc).__name__}: {exc}; reply: {reply[1]!r:.200}")))


class _Process:
    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.killed = False

    def kill(self, release: bool = True) -> None:
        """SIGKILL the process, without waiting for it to exit: this runs on the
        event loop, after every timeout or disconnect a client can cause, and a
        process unmapping gigabytes takes a while to go (the fork server reaps
        it; the next start() forgets it). ``release=False`` leaves the pipe to
        the caller waiting on it (closing it under a waiter would hide the EOF
        it waits for)."""
        self.killed = True
        if self.process.is_alive():
            self.process.kill()
        if release:
            self.conn.close()


class PixelPool:
    def __init__(self, workers: int, memory_limit: int) -> None:
        self.workers = max(workers, 1)
        self.memory_limit = memory_limit
        self._idle: list[_Process] = []
        self._busy: set[_Process] = set()
        self._slots: asyncio.Semaphore | None = None

    @property
    def busy(self) -> int:
        """Processes running a call now (for tests and diagnostics)."""
        return len(self._busy)

    def pids(self) -> list[int]:
        return [p.process.pid or 0 for p in (*self._idle, *self._busy)]

    def _spawn(self) -> _Process:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_serve, args=(theirs, self.memory_limit), daemon=True, name="imghost-pixels"
        )
        process.start()
        theirs.close()
        return _Process(process, ours)

    async def _take(self) -> _Process:
        while self._idle:
            proc = self._idle.pop()
            if proc.process.is_alive():
                return proc
            proc.kill()
        # Starting a process may first start the fork server (about a second
        # of imports): not on the event loop. A caller cancelled meanwhile
        # leaves the new process to the next one.
        spawning = asyncio.ensure_future(asyncio.to_thread(self._spawn))
        try:
            return await asyncio.shield(spawning)
        except asyncio.CancelledError:
            spawning.add_done_callback(self._adopt)
            raise

    def _adopt(self, spawning: asyncio.Future[_Process]) -> None:
        if not spawning.cancelled() and spawning.exception() is None:
            self._idle.append(spawning.result())

    async def run(
        self, limit_seconds: float, fn: Callable[[*Ts], T], *args: *Ts, take_slot: bool = True
    ) -> T:
        """``fn(*args)`` in a pool process; its process is killed if it runs past
        ``limit_seconds`` (PixelJobTimeout) or if the caller is cancelled.

        At most ``workers`` calls run at once; a caller with its own admission
        (upload validation: its fair gate) passes ``take_slot=False`` and has
        its process at once, so it never waits behind renders or jobs."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.workers)
        async with self._slots if take_slot else contextlib.nullcontext():
            proc = await self._take()
            self._busy.add(proc)
            reusable = False
            try:
                proc.conn.send((fn, args))
                async with asyncio.timeout(limit_seconds):
                    status, value = await _receive(proc.conn)
                if status == "ok":
                    reusable = True
                    return value  # type: ignore[no-any-return]
                if not isinstance(value, MemoryError):
                    reusable = True  # the call failed; the process is fine
                raise value
            except TimeoutError:
                log.warning("pixel call over %ss: its process is killed", limit_seconds)
                raise PixelJobTimeout(
                    f"image processing took longer than {limit_seconds:.0f} s"
                ) from None
            except (EOFError, OSError):
                raise PixelWorkerDied(
                    "the image processing process died (out of memory?)"
                ) from None
            finally:
                # Cancelled (the caller gave up, the client went away, shutdown)
                # or over time: only this call's process is killed.
                self._busy.discard(proc)
                if reusable and not proc.killed:  # not killed by close()
                    self._idle.append(proc)
                else:
                    proc.kill()

    def close(self) -> None:
        """Stop every process now: busy ones are killed, not waited for (their
        callers get PixelWorkerDied). A later call starts fresh processes."""
        busy, self._busy = list(self._busy), set()
        idle, self._idle = self._idle, []
        for proc in busy:
            proc.kill(release=False)  # its caller closes the pipe
        for proc in idle:
            proc.conn.close()  # EOF: the process exits by itself
        # Called in a thread (AppContext.close): waiting here is fine.
        for proc in idle:
            proc.process.join(_EXIT_GRACE)
            proc.kill()
        for proc in busy:
            proc.process.join(_EXIT_GRACE)


async def _receive(conn: Connection) -> tuple[str, Any]:
    """The process's reply, awaited without a thread: the loop watches the pipe."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    fd = conn.fileno()

    def readable() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, readable)
    try:
        await ready
    finally:
        loop.remove_reader(fd)
        # uvloop makes a watched fd non-blocking and leaves it so: a reply
        # larger than the pipe's buffer then failed with EAGAIN mid-read.
        os.set_blocking(fd, True)
    # The process writes its whole reply at once: reading it takes no longer
    # than the copy (a few MB at most).
    reply: tuple[str, Any] = conn.recv()
    return reply
