"""SIGTERM to real `imghost serve` and `imghost worker` processes on PostgreSQL:
a tus PATCH in flight completes and its offset is committed; a worker's
abandoned job is released for another worker at once, not at lease expiry."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
from sqlalchemy import select

from imghost.context import AppContext
from imghost.jobs import queue
from imghost.settings import Settings
from imghost.uploads.models import Upload
from tests.conftest import LiveServer, backend_fixture
from tests.e2e.service import ServiceProcess
from tests.e2e.test_workers import job_reader, start_worker, worker_env
from tests.factories import image_bytes, make_user, upload
from tests.helpers.big_images import BigImages
from tests.integration.tus.helpers import TUS, create, created_path, patch, send_partial_patch
from tests.integration.uploads.hostile import wait_for

# Processes that share one database: the production setup, on PostgreSQL + S3.
backend = backend_fixture(["postgres-s3"])


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[Callable[..., Any]]:
    """``call(fn, *args)``: run ``fn(session, *args)`` in a session of the test's
    own (one engine for the whole test), from this thread."""
    with anyio.from_thread.start_blocking_portal() as portal:
        ctx = AppContext.build(settings)

        async def run(fn: Callable[..., Any], *args: Any) -> Any:
            async with ctx.sessions() as session:
                result = await fn(session, *args)
                await session.commit()
                return result

        try:
            yield lambda fn, *args: portal.call(run, fn, *args)
        finally:
            portal.call(ctx.close)


async def _lock_token(session: Any, upload_id: str) -> str | None:
    token: str | None = await session.scalar(
        select(Upload.lock_token).where(Upload.id == upload_id)
    )
    return token


def _refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str]]:
    """The status and headers of the answer; reads until the server closes."""
    sock.settimeout(30)
    raw = b""
    while chunk := sock.recv(65536):
        raw += chunk
    head = raw.split(b"\r\n\r\n", 1)[0].decode()
    status_line, *lines = head.split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return int(status_line.split()[1]), {k.lower(): v for k, v in headers.items()}


def test_a_tus_patch_in_flight_at_sigterm_completes_and_is_committed(
    settings_factory: Any, tmp_path: Path
) -> None:
    settings = settings_factory()
    env = {
        "IMGHOST_DATABASE_URL": settings.database_url,
        "IMGHOST_STORAGE_URL": settings.storage_url,
        "IMGHOST_SECRET_KEY": settings.secret_key,  # the other server's tokens
        "IMGHOST_RUN_WORKER": "false",
        "IMGHOST_SHUTDOWN_TIMEOUT": "30",
    }
    data = image_bytes("PNG", size=(600, 400))
    half = len(data) // 2
    with (
        ServiceProcess(tmp_path, env) as first,
        # The other server: in this process (cheaper to start), same database.
        LiveServer(settings_factory(run_worker=False)) as second,
        httpx.Client(base_url=first.url, timeout=30) as one,
        httpx.Client(base_url=second.url, timeout=30) as other,
        database(settings) as db,
    ):
        assert first.proc is not None
        user = make_user(one)
        path = created_path(create(one, user, len(data)))
        upload_id = path.rsplit("/", 1)[-1]
        # A PATCH of the first half whose body arrives slowly: a quarter now...
        sock = send_partial_patch(first.port, path, user, 0, half, data[: half // 2])
        with sock:
            # ... the request is in its handler once it holds the upload's lease.
            wait_for(lambda: db(_lock_token, upload_id) is not None, 30, "the PATCH to start")
            os.kill(first.proc.pid, signal.SIGTERM)
            # Draining: new connections are refused, the PATCH runs on.
            wait_for(lambda: _refuses_connections(first.port), 30, "the listener to close")
            sock.sendall(data[half // 2 : half])
            status, headers = _read_response(sock)
        assert status == 204, (status, headers)
        assert headers["upload-offset"] == str(half)
        assert headers["connection"] == "close"
        # Stopped cleanly: uvicorn ends by raising the signal it caught again.
        assert first.proc.wait(30) in (0, -signal.SIGTERM)
        assert "Traceback" not in first.log.read_text()
        # The offset was committed: the other server resumes from it.
        r = other.head(path, headers={**TUS, **user.headers})
        assert r.headers["upload-offset"] == str(half), r.headers
        r = patch(other, user, path, half, data[half:])
        assert r.status_code == 204, r.text
        done = other.get(f"/v1/uploads/{upload_id}", headers=user.headers).json()
        assert done["status"] == "completed" and done["imageId"], done


def test_sigterm_to_a_worker_releases_its_job_for_another_worker_at_once(
    settings_factory: Any, tmp_path: Path, big_images: BigImages
) -> None:
    settings = settings_factory(run_worker=False)
    with (
        LiveServer(settings) as live,
        httpx.Client(base_url=live.url, timeout=120) as client,
        job_reader(live) as jobs,
        database(settings) as db,
    ):
        user = make_user(client)
        # 36 MP: seconds of pixel work, longer than the worker's 1 s grace.
        data = big_images.gradient_png(6000, 6000).read_bytes()
        assert upload(client, user, data=data).status_code == 201
        # A lease far longer than the test: only a release can free the job.
        env = worker_env(
            live,
            IMGHOST_JOB_LEASE="600",
            IMGHOST_WORKER_CONCURRENCY="1",
            IMGHOST_SHUTDOWN_TIMEOUT="1",
        )
        log = tmp_path / "worker.log"
        worker = start_worker(env, log)
        try:
            wait_for(lambda: bool(jobs("running")), 60, "the worker to claim the job")
            started = time.monotonic()
            os.kill(worker.pid, signal.SIGTERM)  # the worker only, as systemd would
            assert worker.wait(30) == 0, log.read_text()
            took = time.monotonic() - started
        finally:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(10)
        [job] = jobs()
        # Given back, its attempt returned, due now: claimable by anyone.
        assert (job["status"], job["attempts"]) == ("queued", 0), (job, log.read_text())
        assert took < 15, took
        claimed = db(queue.claim, "another-worker", 60)
        assert [c.id for c in claimed] == [job["id"]]
        assert "lease released" in log.read_text()
