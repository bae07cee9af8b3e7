"""Where an upload is checked: large files go to the pool without any read in
the server's threads; the in-thread header read is timed and cancelled when
the client leaves; a dead pool process is one 503 (review of issue 14, 1.2)."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from imghost.errors import AppError
from imghost.imaging.probe import ProbeResult, opened, probe
from imghost.imaging.sniff import sniff
from imghost.processing.pool import PixelWorkerDied
from imghost.settings import Settings
from imghost.uploads import services, validation
from imghost.uploads.validation import THREAD_MAX_BYTES, Scope, check_if_small, gate_for
from tests.hostile import chunky_png

_PNG = sniff(b"\x89PNG\r\n\x1a\n")
assert _PNG is not None
_RESULT = ProbeResult(_PNG, 8, 8, 1)


class _FakePool:
    workers = 2

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def run(self, limit: float, fn: Any, *args: Any, take_slot: bool = True) -> ProbeResult:
        self.calls.append({"fn": fn, "take_slot": take_slot})
        return _RESULT


class _Request:
    """Its client disconnects once ``gone`` is set."""

    def __init__(self) -> None:
        self.gone = asyncio.Event()

    async def receive(self) -> dict[str, str]:
        await self.gone.wait()
        return {"type": "http.disconnect"}


def _settings(**overrides: Any) -> Settings:
    return dataclasses.replace(Settings(), **overrides)


def _png(tmp_path: Path) -> Path:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG")
    path = tmp_path / "a.png"
    path.write_bytes(buf.getvalue())
    return path


async def _validate(path: Path, settings: Settings, pool: Any, request: Any) -> ProbeResult:
    validation._scope.set(Scope(pool, gate_for(settings, pool), request))
    return await validation.run_validation(path, settings, "user")


def test_a_large_file_goes_to_the_pool_without_a_read_in_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: every upload's headers were read on the shared decode threads
    # first, first come first served: two 7.9 MB PNGs of 660,000 chunks held
    # another user's 8x8 PNG for 12.9 s.
    def no_thread(*args: object) -> None:
        raise AssertionError("a large upload was read in a server thread")

    monkeypatch.setattr(validation, "run_cpu_bound", no_thread)
    path = tmp_path / "big.png"
    path.write_bytes(chunky_png(THREAD_MAX_BYTES // 12))
    pool = _FakePool()
    assert asyncio.run(_validate(path, _settings(), pool, None)) == _RESULT
    # The fair gate is its only admission: no wait behind renders and jobs.
    assert pool.calls == [{"fn": probe, "take_slot": False}]


def test_a_small_file_of_many_chunks_goes_to_the_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "chunky.png"
    path.write_bytes(chunky_png(20_000))  # 240 KB: under the size bound
    monkeypatch.setattr(Image, "open", lambda *a, **k: pytest.fail("opened by Pillow"))
    assert check_if_small(path, _settings()) is None
    pool = _FakePool()
    assert asyncio.run(_validate(path, _settings(), pool, None)) == _RESULT
    assert len(pool.calls) == 1


def test_a_small_still_is_checked_in_a_thread(tmp_path: Path) -> None:
    pool = _FakePool()
    result = asyncio.run(_validate(_png(tmp_path), _settings(), pool, None))
    assert (result.width, result.height, result.frames) == (8, 8, 1)
    assert pool.calls == []


@pytest.fixture
def stuck_header_read(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """The in-thread header read hangs until the returned event is set."""
    release = threading.Event()
    real = opened

    def hanging(*args: Any, **kwargs: Any) -> Any:
        release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(validation, "opened", hanging)
    yield release
    release.set()


@pytest.mark.timeout(20)
def test_the_header_read_is_cancelled_when_the_client_leaves(
    tmp_path: Path, stuck_header_read: threading.Event
) -> None:
    # Before: the header read had neither time budget nor disconnect watch.
    async def scenario() -> None:
        request = _Request()
        check = asyncio.ensure_future(_validate(_png(tmp_path), _settings(), _FakePool(), request))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        request.gone.set()
        with pytest.raises(AppError) as err:
            async with asyncio.timeout(5):
                await check
        assert err.value.code == "client_disconnected"
        assert time.monotonic() - started < 1

    asyncio.run(scenario())


@pytest.mark.timeout(20)
def test_the_header_read_has_the_time_budget(
    tmp_path: Path, stuck_header_read: threading.Event
) -> None:
    async def scenario() -> None:
        check = _validate(
            _png(tmp_path), _settings(validation_timeout=0.2), _FakePool(), _Request()
        )
        with pytest.raises(AppError) as err:
            async with asyncio.timeout(5):
                await check
        assert (err.value.status, err.value.code) == (422, "image_too_complex")

    asyncio.run(scenario())


def test_a_dead_pool_process_is_503_insufficient_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def died(*args: object) -> ProbeResult:
        raise PixelWorkerDied("killed")

    monkeypatch.setattr(services, "run_validation", died)
    with pytest.raises(AppError) as err:
        asyncio.run(services.validate_image(tmp_path / "x", _settings(), "user"))
    assert (err.value.status, err.value.code) == (503, "insufficient_memory")
    assert err.value.headers == {"Retry-After": "30"}
