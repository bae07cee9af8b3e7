"""Run the real `imghost serve` as a subprocess and talk to it over HTTP."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from imghost.testing.servers import free_port

HEALTH_TIMEOUT = 90.0


class ServiceError(RuntimeError):
    """The service did not start or answered something unexpected."""


@dataclass
class Service:
    """A running `imghost serve` process group."""

    proc: subprocess.Popen[bytes]
    port: int
    workers: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM the whole process group (uvicorn's supervisor and its workers)."""
        if self.proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # Workers can outlive a supervisor that was killed: sweep the group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)


def imghost_binary() -> Path:
    candidate = Path(sys.executable).parent / "imghost"
    if not candidate.exists():
        raise ServiceError(f"{candidate} not found: run `make install` first")
    return candidate


@contextlib.contextmanager
def running(
    *,
    database_url: str,
    storage_url: str,
    workdir: Path,
    workers: int,
    run_worker: bool = False,
) -> Iterator[Service]:
    """Start `imghost serve` on a free port, wait for /healthz, stop it on exit.

    ``run_worker`` also runs the background worker (processing jobs) in the service.
    """
    port = free_port()
    env = {
        **os.environ,
        "IMGHOST_HOST": "127.0.0.1",
        "IMGHOST_PORT": str(port),
        "IMGHOST_DATABASE_URL": database_url,
        "IMGHOST_STORAGE_URL": storage_url,
        "IMGHOST_WORKERS": str(workers),
        "IMGHOST_RUN_WORKER": "true" if run_worker else "false",
        "IMGHOST_SECRET_KEY": secrets.token_urlsafe(48),
        "IMGHOST_TMP_DIR": str(workdir / "spool"),
        "IMGHOST_LOG_LEVEL": "WARNING",
    }
    (workdir / "spool").mkdir(parents=True, exist_ok=True)
    log_path = workdir / "imghost.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(imghost_binary()), "serve"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: one killpg stops every worker
        )
    service = Service(proc=proc, port=port, workers=workers, log_path=log_path)
    try:
        wait_healthy(service)
        yield service
    finally:
        service.stop()


def wait_healthy(service: Service, timeout: float = HEALTH_TIMEOUT) -> None:
    """Poll /healthz on fresh connections until every worker has had time to answer."""
    deadline = time.monotonic() + timeout
    successes = 0
    while time.monotonic() < deadline:
        if service.proc.poll() is not None:
            raise ServiceError(
                f"imghost exited with {service.proc.returncode} while starting:\n"
                f"{service.log_tail()}"
            )
        try:
            response = httpx.get(f"{service.base_url}/healthz", timeout=2.0)
            ok = response.status_code == 200
        except httpx.HTTPError:
            ok = False
        successes = successes + 1 if ok else 0
        if successes >= 2 * service.workers:
            return
        time.sleep(0.1)
    raise ServiceError(f"imghost was not healthy within {timeout:.0f}s:\n{service.log_tail()}")


def expect(response: httpx.Response, status: int, what: str) -> httpx.Response:
    if response.status_code != status:
        raise ServiceError(
            f"{what}: expected HTTP {status}, got {response.status_code}: {response.text[:500]}"
        )
    return response


def sign_in(client: httpx.Client) -> str:
    """Create a throwaway account and return its access token."""
    name = f"bench_{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(16)
    email = f"{name}@example.com"
    expect(
        client.post(
            "/v1/auth/signup", json={"username": name, "email": email, "password": password}
        ),
        201,
        "sign up",
    )
    login = expect(
        client.post("/v1/auth/login", json={"email": email, "password": password}), 200, "log in"
    )
    token: str = login.json()["accessToken"]
    return token
