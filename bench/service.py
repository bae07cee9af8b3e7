"""Run the real `imghost serve` (and, when asked, `imghost worker`) as subprocesses and
talk to the service over HTTP."""

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
import psutil

from imghost.testing.servers import free_port

HEALTH_TIMEOUT = 90.0
PROCESSED_TIMEOUT = 600.0  # the worker processes uploads in order: ~26 large JPEGs first

# The settings every benchmark service starts with (a section's own ``settings`` come
# after and may override them): the measurement, not an account's limits, must decide
# the figures, and every section must run from a fresh clone. Each section's JSON
# records them (``imghost_room``). A new per-account limit belongs here too.
ROOM: dict[str, str] = {
    # wrk hammers one image from one address: the per-address view limit would
    # measure 429s; the tus and encryption sections send GBs an hour (upload_bytes).
    # The limiter's own cost is not what is measured.
    "IMGHOST_RATE_LIMITS_ENABLED": "false",
    # Timed uploads count against the owner's quota: a tus upload's declared length
    # is held from its creation (the tus section's is 1 GiB), the encryption section
    # keeps ~1 GB per account, and more with --runs. The free plan's 1 GB answered
    # 413 quota_exceeded. 1 PB: never reached.
    "IMGHOST_QUOTA_FREE": str(10**15),
}


def stop_group(proc: subprocess.Popen[bytes], term_wait: float) -> None:
    """SIGTERM a process group leader's group, then SIGKILL the whole group.

    Children can outlive their parent (uvicorn's workers, the pixel pool's
    forkserver, thumbor's forked processes): the group is swept even when the
    leader is already gone.
    """
    if proc.poll() is None:
        for sig, wait in ((signal.SIGTERM, term_wait), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


class ServiceError(RuntimeError):
    """The service did not start or answered something unexpected."""


@dataclass
class ProcessGroup:
    """A subprocess started in its own session, so one killpg reaches all it forks."""

    proc: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 30) -> str:
        """The log's last lines, and how the process ended if it has: a process killed by
        a signal (SIGKILL, SIGSEGV) or stopped by a SIGTERM at log level WARNING says
        nothing in its log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            text = ""
        tail = "\n".join(text.splitlines()[-lines:])
        code = self.proc.poll()
        if code is not None:
            how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with {code}"
            tail += f"\n[process {self.proc.pid} {how}]"
        return tail

    def stop(self) -> None:
        """SIGTERM the whole process group, SIGKILL what is left, wait until it is gone."""
        stop_group(self.proc, 15.0)
        deadline = time.monotonic() + 5.0
        while self.members() and time.monotonic() < deadline:
            time.sleep(0.05)

    def members(self) -> list[int]:
        """Live (non-zombie) processes still in the group."""
        found = []
        for proc in psutil.process_iter(["status"]):
            with contextlib.suppress(psutil.Error, OSError):
                if (
                    os.getpgid(proc.pid) == self.proc.pid
                    and proc.info["status"] != psutil.STATUS_ZOMBIE
                ):
                    found.append(proc.pid)
        return found


@dataclass
class Service(ProcessGroup):
    """A running `imghost serve` process group."""

    port: int
    workers: int
    env: dict[str, str]  # what it was started with (a worker needs the same)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


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
    settings: dict[str, str] | None = None,
) -> Iterator[Service]:
    """Start `imghost serve` on a free port, wait for /healthz, stop it on exit.

    ``run_worker`` also runs the background worker (processing jobs) in the service;
    ``settings`` adds or overrides environment variables (``IMGHOST_MAX_FILE_SIZE``...),
    :data:`ROOM` among them.
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
        **ROOM,
        **(settings or {}),
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
    service = Service(proc=proc, log_path=log_path, port=port, workers=workers, env=env)
    try:
        wait_healthy(service)
        yield service
    finally:
        service.stop()


@contextlib.contextmanager
def worker_running(service: Service, workdir: Path) -> Iterator[ProcessGroup]:
    """Start `imghost worker` against the service's database and blob store.

    It gets the service's environment (IMGHOST_DATABASE_URL, IMGHOST_STORAGE_URL,
    IMGHOST_SECRET_KEY, ...) and its own process group, which is stopped on exit,
    errors and Ctrl-C included: its pixel pool with it.
    """
    log_path = workdir / "imghost-worker.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(imghost_binary()), "worker"],
            env=service.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # one killpg stops it, its forkserver and pool processes
        )
    worker = ProcessGroup(proc=proc, log_path=log_path)
    try:
        yield worker
    finally:
        worker.stop()


def wait_processed(
    client: httpx.Client,
    image_ids: list[str],
    worker: ProcessGroup,
    timeout: float = PROCESSED_TIMEOUT,
) -> dict[str, str]:
    """Poll ``GET /v1/images/{id}`` (``client`` is the owner's) until no image is
    ``processing``; return each image's status. Fails early if the worker exits."""
    deadline = time.monotonic() + timeout
    statuses: dict[str, str] = {}
    pending = list(dict.fromkeys(image_ids))
    while pending:
        for image_id in list(pending):
            response = expect(client.get(f"/v1/images/{image_id}"), 200, f"image {image_id}")
            status: str = response.json()["status"]
            if status != "processing":
                statuses[image_id] = status
                pending.remove(image_id)
        if not pending:
            break
        if worker.proc.poll() is not None:
            raise ServiceError(
                f"imghost worker exited with {worker.proc.returncode} while "
                f"{len(pending)} image(s) were processing:\n{worker.log_tail()}"
            )
        if time.monotonic() > deadline:
            raise ServiceError(
                f"{', '.join(pending)} still processing after {timeout:.0f}s:\n{worker.log_tail()}"
            )
        time.sleep(0.1)
    return statuses


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
