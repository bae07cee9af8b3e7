"""Real `imghost worker` processes: SIGKILL mid-job, and two workers on PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
from PIL import Image

from imghost.context import AppContext
from imghost.jobs import queue
from tests.conftest import LiveServer
from tests.e2e.service import BIN
from tests.factories import make_user, upload, wait_processed
from tests.helpers.big_images import BigImages


def worker_env(live: LiveServer, **extra: str) -> dict[str, str]:
    s = live.settings
    return {
        **os.environ,
        "IMGHOST_DATABASE_URL": s.database_url,
        "IMGHOST_STORAGE_URL": s.storage_url,
        "IMGHOST_SECRET_KEY": s.secret_key,
        "IMGHOST_TMP_DIR": s.tmp_dir,
        "IMGHOST_GC_INTERVAL": "3600",
        **extra,
    }


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    # The worker writes to its own copy of the descriptor; ours closes at once.
    with open(log, "ab") as out:
        return subprocess.Popen(
            [str(BIN / "imghost"), "worker"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@contextlib.contextmanager
def job_reader(live: LiveServer) -> Iterator[Callable[..., list[dict[str, Any]]]]:
    """``read(status=None)``: the jobs (all, or those of ``status``), read from the
    test process (a Python started per poll cost seconds) on one engine for the
    whole test (an engine built per poll cost ~12 ms of a core, 20 polls a second)."""
    with anyio.from_thread.start_blocking_portal() as portal:
        ctx = AppContext.build(live.settings)

        async def read(status: str | None) -> list[dict[str, Any]]:
            async with ctx.sessions() as s:
                jobs = await queue.list_jobs(s, status, 1000)
                return [
                    {"id": j.id, "status": j.status, "attempts": j.attempts, "image": j.image_id}
                    for j in jobs
                ]

        try:
            yield lambda status=None: portal.call(read, status)
        finally:
            portal.call(ctx.close)


def test_sigkill_mid_job_is_finished_by_another_worker(
    settings_factory: Any, tmp_path: Path, big_images: BigImages
) -> None:
    settings = settings_factory(run_worker=False)
    with (
        LiveServer(settings) as live,
        httpx.Client(base_url=live.url, timeout=120) as client,
        job_reader(live) as jobs,
    ):
        user = make_user(client)
        # 36 MP (made once a run, shared with the time-limit test): seconds of
        # pixel work, a wide window for the kill half a second in.
        data = big_images.gradient_png(6000, 6000).read_bytes()
        image_id = upload(client, user, data=data).json()["imageId"]
        env = worker_env(live, IMGHOST_JOB_LEASE="3", IMGHOST_WORKER_CONCURRENCY="1")
        first = start_worker(env, tmp_path / "w1.log")
        deadline = time.monotonic() + 60
        while not jobs("running"):
            assert time.monotonic() < deadline, (tmp_path / "w1.log").read_text()
            time.sleep(0.05)
        time.sleep(0.5)  # well inside the pixel work
        os.killpg(first.pid, signal.SIGKILL)  # the worker and its pixel processes
        first.wait(10)
        second = start_worker(env, tmp_path / "w2.log")
        try:
            # The lease lapses, the second worker claims the job and finishes it.
            deadline = time.monotonic() + 120
            while (job := jobs()[0])["status"] != "done":
                assert time.monotonic() < deadline, (tmp_path / "w2.log").read_text()
                time.sleep(0.2)
        finally:
            os.killpg(second.pid, signal.SIGTERM)
            second.wait(20)
        assert job["attempts"] == 2, job
        assert wait_processed(client, user, image_id)["status"] == "ready"
        assert client.get(f"/images/{image_id}").content == data


def test_two_workers_never_run_the_same_job(settings_factory: Any, tmp_path: Path) -> None:
    settings = settings_factory(run_worker=False)
    with (
        LiveServer(settings) as live,
        httpx.Client(base_url=live.url, timeout=120) as client,
        job_reader(live) as jobs_of,
    ):
        user = make_user(client)
        ids = [upload(client, user, data=_small(i)).json()["imageId"] for i in range(24)]
        env = worker_env(live, IMGHOST_WORKER_CONCURRENCY="2")
        workers = [start_worker(env, tmp_path / f"w{i}.log") for i in range(2)]
        try:
            for image_id in ids:
                assert wait_processed(client, user, image_id, timeout=120)["status"] == "ready"
            # An image is ready a moment before its job is recorded done (a
            # second transaction): stop the workers only once every job is.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if all(j["status"] == "done" for j in jobs_of()):
                    break
                time.sleep(0.2)
        finally:
            for w in workers:
                os.killpg(w.pid, signal.SIGTERM)
                w.wait(20)
        jobs = jobs_of()
        assert len(jobs) == 24
        assert all(j["status"] == "done" and j["attempts"] == 1 for j in jobs), jobs


def _small(i: int) -> bytes:
    import io

    buf = io.BytesIO()
    Image.new("RGB", (300 + i, 200), (i * 10 % 255, 50, 90)).save(buf, "PNG")
    return buf.getvalue()
