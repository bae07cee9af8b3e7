"""The pixel pool enforces time and memory limits and recovers after each."""

from __future__ import annotations

import os
import time

import anyio
import pytest

from imghost.jobs.pool import PixelJobTimeout, PixelPool, PixelWorkerDied


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
