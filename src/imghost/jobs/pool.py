"""A process pool for CPU-bound pixel work, with per-job time and memory limits.

Decoding and encoding run in separate processes so one huge image neither
holds the GIL of the event loop nor stalls the other jobs. Each pool process
has an address-space limit: an image that needs more fails its job with a
MemoryError instead of taking the machine down. A job that runs past its time
limit cannot be cancelled inside a process, so the pool's processes are
terminated and a fresh pool is started on the next use; other jobs caught in
that pool fail their attempt and are retried.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
import resource
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar, TypeVarTuple

log = logging.getLogger(__name__)

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

# Modules every pixel job needs, imported once in the fork server so each new
# pool process starts warm.
PRELOAD = ["imghost.imaging.render", "imghost.imaging.metadata", "imghost.imaging.scan"]


class PixelJobTimeout(Exception):
    pass


class PixelWorkerDied(Exception):
    pass


def _limit_memory(limit: int) -> None:
    if limit > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


class PixelPool:
    def __init__(self, workers: int, memory_limit: int) -> None:
        self.workers = workers
        self.memory_limit = memory_limit
        self._executor: ProcessPoolExecutor | None = None

    def _get(self) -> ProcessPoolExecutor:
        if self._executor is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(PRELOAD)
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=context,
                initializer=_limit_memory,
                initargs=(self.memory_limit,),
            )
        return self._executor

    async def run(self, limit_seconds: float, fn: Callable[[*Ts], T], *args: *Ts) -> T:
        executor = self._get()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(executor, functools.partial(fn, *args))
        try:
            return await asyncio.wait_for(future, limit_seconds)
        except TimeoutError:
            log.warning("pixel job over %ss: restarting the pixel pool", limit_seconds)
            self._terminate(executor)
            raise PixelJobTimeout(
                f"image processing took longer than {limit_seconds:.0f} s"
            ) from None
        except BrokenProcessPool:
            self._terminate(executor)
            raise PixelWorkerDied("the image processing process died (out of memory?)") from None
        except asyncio.CancelledError:
            # The caller gave up (job time limit, shutdown): a process cannot be
            # interrupted mid-task, so stop the pool rather than let it burn on.
            if not future.done():
                self._terminate(executor)
            raise
        except MemoryError:
            # A process that hit its memory limit may keep a fragmented heap:
            # start the next job in fresh processes.
            self._terminate(executor)
            raise

    def _terminate(self, executor: ProcessPoolExecutor) -> None:
        if self._executor is executor:
            self._executor = None
        # Python 3.11 has no public way to stop a busy pool: terminate its processes.
        for process in list((getattr(executor, "_processes", None) or {}).values()):
            if process.is_alive():
                process.terminate()
        executor.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
