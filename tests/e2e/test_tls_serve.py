"""`imghost serve --tls-cert --tls-key` as an operator runs it: HTTPS, the
redirecting plain-HTTP port, and the certificate reloaded on a real SIGHUP.

The server's log lines are the events waited for (read as they are written):
startup, the reload, the refused reload.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509

from imghost.testing.servers import free_port
from tests.e2e.service import BIN
from tests.helpers.tls import Leaf, TestCA


class ServeLog:
    """The server's output, line by line, as it is written."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        assert proc.stdout is not None
        stdout = proc.stdout

        def read() -> None:
            for line in stdout:
                self.lines.put(line)
            self.lines.put(None)  # the process closed its output: it ended

        self.reader = threading.Thread(target=read, daemon=True)
        self.reader.start()

    def wait_for(self, text: str, timeout: float = 60) -> str:
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(
                    f"no {text!r} within {timeout} s:\n{''.join(self.seen)}"
                ) from None
            if line is None:
                raise AssertionError(f"the server ended before {text!r}:\n{''.join(self.seen)}")
            self.seen.append(line)
            if text in line:
                return line


def serial_served(port: int, ca: TestCA) -> int:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as sock,
        ca.client_context().wrap_socket(sock, server_hostname="localhost") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def serial_of(leaf: Leaf) -> int:
    return x509.load_pem_x509_certificate(leaf.cert.read_bytes()).serial_number


def put_in_place(leaf: Leaf, cert: Path, key: Path) -> None:
    # As a renewal tool does: each file written beside, then renamed over.
    for source, target in ((leaf.cert, cert), (leaf.key, key)):
        shutil.copy(source, target.with_suffix(".new"))
        os.replace(target.with_suffix(".new"), target)


@pytest.fixture
def served(
    tmp_path: Path, sqlite_template: Path
) -> Iterator[tuple[subprocess.Popen[str], ServeLog, int, int]]:
    port, redirect_port = free_port(), free_port()
    db = tmp_path / "imghost.db"
    shutil.copyfile(sqlite_template, db)  # migrated already
    env = {
        **os.environ,
        "IMGHOST_HOST": "127.0.0.1",
        "IMGHOST_PORT": str(port),
        "IMGHOST_TLS_REDIRECT_PORT": str(redirect_port),
        "IMGHOST_DATA_DIR": str(tmp_path / "data"),
        "IMGHOST_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "IMGHOST_AUTO_MIGRATE": "false",
        "IMGHOST_RUN_WORKER": "false",
        "IMGHOST_LOG_LEVEL": "info",
    }
    proc = subprocess.Popen(
        [str(BIN / "imghost"), "serve", "--tls-cert", "live.crt", "--tls-key", "live.key"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    log = ServeLog(proc)
    try:
        yield proc, log, port, redirect_port
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        log.reader.join(5)  # the output ended with the process
        assert proc.stdout is not None
        proc.stdout.close()


@pytest.fixture
def pairs(tmp_path: Path) -> tuple[TestCA, list[Leaf]]:
    ca = TestCA(tmp_path / "ca")
    leaves = [ca.issue("localhost", "127.0.0.1") for _ in range(3)]
    put_in_place(leaves[0], tmp_path / "live.crt", tmp_path / "live.key")
    return ca, leaves


def test_https_redirect_and_reload_on_sighup(
    tmp_path: Path, pairs: tuple[TestCA, list[Leaf]], served: tuple[Any, ServeLog, int, int]
) -> None:
    ca, (first, second, third) = pairs
    proc, log, port, redirect_port = served
    log.wait_for(f"Uvicorn running on https://127.0.0.1:{port}")

    with httpx.Client(verify=ca.client_context(), timeout=30) as client:
        r = client.get(f"https://localhost:{port}/healthz")
    assert r.status_code == 200
    assert r.headers["strict-transport-security"] == "max-age=31536000"
    plain = httpx.get(f"http://127.0.0.1:{redirect_port}/healthz?x=1", timeout=30)
    assert plain.status_code == 308
    assert plain.headers["location"] == f"https://127.0.0.1:{port}/healthz?x=1"
    assert serial_served(port, ca) == serial_of(first)

    # A renewed pair, then SIGHUP: new handshakes get it, no restart.
    put_in_place(second, tmp_path / "live.crt", tmp_path / "live.key")
    proc.send_signal(signal.SIGHUP)
    log.wait_for("TLS certificate reloaded")
    assert serial_served(port, ca) == serial_of(second)

    # A certificate without its key: refused, the served pair kept, still up.
    shutil.copy(third.cert, tmp_path / "live.crt")
    proc.send_signal(signal.SIGHUP)
    log.wait_for("TLS certificate not reloaded")
    assert serial_served(port, ca) == serial_of(second)
    assert proc.poll() is None
