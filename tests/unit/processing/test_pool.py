"""The pixel pool enforces time and memory limits and recovers after each."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from multiprocessing.process import BaseProcess
from pathlib import Path

import anyio
import pytest

import imghost
from imghost.processing.pool import PixelJobTimeout, PixelPool, PixelWorkerDied
from tests.integration.uploads.hostile import wait_exited


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def _allocate(megabytes: int) -> int:
    return len(bytearray(megabytes * 1024 * 1024))


def _die() -> None:
    os._exit(9)


def test_time_limit_then_recovery() -> None:
    pool = PixelPool(1, 0)

    async def scenario() -> None:
        with pytest.raises(PixelJobTimeout):
            await pool.run(0.5, _sleep, 30.0)
        assert await pool.run(30, _sleep, 0.01) == 0.01

    try:
        anyio.run(scenario)
    finally:
        pool.close()


def test_memory_limit_then_recovery() -> None:
    pool = PixelPool(1, 512 * 1024 * 1024)

    async def scenario() -> None:
        with pytest.raises(MemoryError):
            await pool.run(30, _allocate, 2048)
        assert await pool.run(30, _allocate, 16) == 16 * 1024 * 1024

    try:
        anyio.run(scenario)
    finally:
        pool.close()


def test_dead_process_then_recovery() -> None:
    pool = PixelPool(1, 0)

    async def scenario() -> None:
        with pytest.raises(PixelWorkerDied):
            await pool.run(30, _die)
        assert await pool.run(30, _sleep, 0.0) == 0.0

    try:
        anyio.run(scenario)
    finally:
        pool.close()


def _pid_after(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_one_call_over_time_does_not_fail_the_others() -> None:
    # Before: the pool terminated all its processes when one call timed out,
    # failing every other caller's work (BrokenProcessPool -> PixelWorkerDied).
    pool = PixelPool(2, 0)

    async def scenario() -> None:
        async with anyio.create_task_group() as tg:
            results: list[int] = []

            async def steady() -> None:
                results.append(await pool.run(30, _pid_after, 1.0))

            tg.start_soon(steady)
            with pytest.raises(PixelJobTimeout):
                await pool.run(0.3, _sleep, 30.0)
        assert len(results) == 1
        # The steady call's process survives and is reused.
        assert await pool.run(30, _pid_after, 0.0) == results[0]

    try:
        anyio.run(scenario)
    finally:
        pool.close()


def test_cancelled_call_kills_only_its_process() -> None:
    # Before: a cancelled call (the caller gave up) terminated the whole pool.
    pool = PixelPool(2, 0)

    async def scenario() -> None:
        steady: list[int] = []
        running: list[int] = []
        async with anyio.create_task_group() as tg:

            async def keep_going() -> None:
                steady.append(await pool.run(30, _pid_after, 1.5))

            tg.start_soon(keep_going)
            with anyio.move_on_after(0.8):
                await pool.run(30, _sleep, 30.0)
                running.extend(pool.pids())
            running.extend(pool.pids())
        # The hung call's process was killed at once, the steady one finished
        # its call and stays for the next.
        assert pool.pids() == steady
        assert steady[0] in running

    try:
        anyio.run(scenario)
    finally:
        pool.close()


def test_close_kills_busy_processes_instead_of_waiting() -> None:
    pool = PixelPool(1, 0)
    pids: list[int] = []

    async def scenario() -> None:
        async with anyio.create_task_group() as tg:

            async def hang() -> None:
                with pytest.raises(PixelWorkerDied):
                    await pool.run(60, _sleep, 60.0)

            tg.start_soon(hang)
            while not pool.busy:
                await anyio.sleep(0.01)
            pids.extend(pool.pids())
            started = time.monotonic()
            await anyio.to_thread.run_sync(pool.close)
            assert time.monotonic() - started < 5

    anyio.run(scenario)
    assert pids and not any(_alive(pid) for pid in pids)


def _big_reply(megabytes: int) -> bytes:
    return b"x" * (megabytes * 1024 * 1024)


def test_large_replies_under_uvloop() -> None:
    """uvloop (what uvicorn runs on) leaves a watched pipe non-blocking: a reply
    larger than the pipe's buffer, read after it, failed with EAGAIN and the
    call looked like a dead process. Twice, so a reused process is covered."""
    pool = PixelPool(1, 0)

    async def scenario() -> None:
        for _ in range(2):
            assert len(await pool.run(30, _big_reply, 8)) == 8 * 1024 * 1024

    try:
        anyio.run(scenario, backend_options={"use_uvloop": True})
    finally:
        pool.close()


def test_a_call_with_its_own_admission_does_not_wait_for_a_slot() -> None:
    # Before: upload validation waited on the pool's one semaphore behind
    # on-demand renders and jobs (up to IMGHOST_JOB_TIMEOUT each), unbounded.
    pool = PixelPool(1, 0)

    async def scenario() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(pool.run, 30, _sleep, 3.0)  # a render holding the only slot
            while not pool.busy:
                await anyio.sleep(0.01)
            with anyio.fail_after(2.5):
                assert await pool.run(30, _sleep, 0.0, take_slot=False) == 0.0
            tg.cancel_scope.cancel()

    try:
        anyio.run(scenario)
    finally:
        pool.close()


def test_killing_a_process_does_not_block_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before: each kill (timeout, disconnect, memory) joined the process on
    # the event loop, for up to a second.
    on_loop: list[str] = []
    join = BaseProcess.join

    def watched(self: BaseProcess, timeout: float | None = None) -> None:
        try:
            asyncio.get_running_loop()
            on_loop.append(self.name)
        except RuntimeError:
            pass
        join(self, timeout)

    monkeypatch.setattr(BaseProcess, "join", watched)
    pool = PixelPool(1, 0)

    async def scenario() -> None:
        with pytest.raises(PixelJobTimeout):
            await pool.run(0.3, _sleep, 30.0)
        with anyio.move_on_after(0.3):
            await pool.run(30, _sleep, 30.0)

    try:
        anyio.run(scenario)
    finally:
        pool.close()
    assert on_loop == []


# A program that starts a pool, leaves one call running for a minute and
# prints the pids of the pool's process, the fork server and the resource tracker.
_BUSY_POOL = """
import asyncio, sys
from multiprocessing import forkserver, resource_tracker
from imghost.processing.pool import PixelPool
from tests.unit.processing.test_pool import _sleep

async def main():
    pool = PixelPool(1, 0)
    call = asyncio.ensure_future(pool.run(120, _sleep, 60.0))
    while not pool.busy or not pool.pids()[0]:
        await asyncio.sleep(0.01)
    helpers = [forkserver._forkserver._forkserver_pid, resource_tracker._resource_tracker._pid]
    print(*pool.pids(), *helpers, flush=True)
    await call

asyncio.run(main())
"""


def test_kill_9_of_the_parent_ends_a_busy_pool_process_at_once() -> None:
    # Before: each pool process held the fork server's "alive" pipe open, so
    # the fork server outlived a killed parent for as long as a call ran, and
    # the busy process (which dies with the fork server) with it: flaky in
    # tests/e2e/test_hostile_shutdown.py, whose calls usually ended within its
    # 10 s. Here the call runs a minute, so the cycle would show every time.
    root = Path(__file__).resolve().parents[3]
    src = Path(imghost.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), str(root)])}
    with subprocess.Popen(
        [sys.executable, "-c", _BUSY_POOL], cwd=root, env=env, stdout=subprocess.PIPE
    ) as proc:
        assert proc.stdout is not None
        pids = [int(pid) for pid in proc.stdout.readline().split()]
        proc.kill()
    left = wait_exited(pids, 5)
    for pid in left:  # do not leak them into the rest of the run
        os.kill(pid, signal.SIGKILL)
    assert len(pids) == 3 and left == []
