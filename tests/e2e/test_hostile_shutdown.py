"""`imghost serve` stops on SIGTERM even with hostile validations running, and
leaves no pixel process behind when it is killed (issue 14, High 1 and Low)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.service import ServiceProcess
from tests.factories import image_bytes, make_user, upload
from tests.hostile import gif_bomb
from tests.integration.uploads.hostile import start_upload, wait_exited, wait_for

SHUTDOWN_TIMEOUT = 3
HOSTILE = {
    # Limits raised so the GIFs pass the header checks and decode for hours.
    "IMGHOST_MAX_FRAMES": "20000",
    "IMGHOST_MAX_TOTAL_PIXELS": str(10**15),
    "IMGHOST_VALIDATION_TIMEOUT": "600",
    "IMGHOST_VALIDATIONS_PER_USER": "2",
    "IMGHOST_WORKER_CONCURRENCY": "2",
    "IMGHOST_SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT),
}


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children of children included)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found.extend(children)
        frontier.extend(children)
    return found


def _proc(service: ServiceProcess) -> subprocess.Popen[bytes]:
    assert service.proc is not None
    return service.proc


@pytest.fixture
def held() -> Iterator[list[socket.socket]]:
    """Sockets the test keeps open to its end, then closes."""
    sockets: list[socket.socket] = []
    yield sockets
    for sock in sockets:
        sock.close()


def _busy_server(
    service: ServiceProcess, client: httpx.Client, held: list[socket.socket]
) -> list[int]:
    """Two hostile uploads decoding, a big image processed: return the pool's processes."""
    user = make_user(client)
    # A 4.2 MP image: validated and processed in pool processes.
    big = upload(client, user, data=image_bytes("PNG", size=(2100, 2000)), filename="big.png")
    assert big.status_code == 201, big.text
    bomb = gif_bomb(10_000, 2000, 2000)
    sockets = [start_upload(service.port, user, bomb) for _ in range(2)]
    held.extend(sockets)
    pid = _proc(service).pid
    # The fork server and at least the two decoding processes.
    wait_for(lambda: len(descendants(pid)) >= 3, 60, "the pool processes to start")
    for sock in sockets:
        sock.shutdown(1)  # keep reading: the requests stay alive
    return descendants(pid)


@pytest.mark.timeout(180)
def test_sigterm_stops_the_server_within_the_shutdown_timeout(
    tmp_path: Path, held: list[socket.socket]
) -> None:
    with (
        ServiceProcess(tmp_path, env=HOSTILE) as service,
        httpx.Client(base_url=service.url, timeout=60) as client,
    ):
        children = _busy_server(service, client, held)
        proc = _proc(service)
        started = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)  # the server only, as systemd would
        # Before: uvicorn waited for the hostile requests for ever.
        proc.wait(SHUTDOWN_TIMEOUT + 15)
        took = time.monotonic() - started
        assert took < SHUTDOWN_TIMEOUT + 10, took
        assert wait_exited(children, 10) == []


@pytest.mark.timeout(180)
def test_kill_9_leaves_no_pool_process(tmp_path: Path, held: list[socket.socket]) -> None:
    with (
        ServiceProcess(tmp_path, env=HOSTILE) as service,
        httpx.Client(base_url=service.url, timeout=60) as client,
    ):
        children = _busy_server(service, client, held)
        proc = _proc(service)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        # Before: the pool's processes stayed running (~250 MB) for ever.
        left = wait_exited(children, 10)
        for pid in left:  # do not leak them into the rest of the run
            os.kill(pid, signal.SIGKILL)
        assert left == []
