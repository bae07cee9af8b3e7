"""Processing under failure: memory and time limits, retries to dead, idempotency."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from imghost import composition
from imghost.context import AppContext
from imghost.jobs import queue
from tests.conftest import LiveServer
from tests.factories import make_user, upload, wait_processed
from tests.helpers.big_images import BigImages, gradient_png


def work(live: LiveServer, max_seconds: float = 120) -> int:
    async def main() -> int:
        ctx = AppContext.build(live.settings)
        try:
            worker = composition.worker(ctx, concurrency=1, periodic=False)
            return await worker.run_until_idle(max_seconds)
        finally:
            await ctx.close()

    return anyio.run(main)


@pytest.mark.slow
@pytest.mark.plaintext_only  # the pixel pool's limit, whatever the store
def test_memory_limit_fails_the_job_not_the_worker(
    settings_factory: Any, big_images: BigImages
) -> None:
    settings = settings_factory(
        run_worker=False, job_memory_limit=250 * 1024 * 1024, job_max_attempts=1
    )
    with LiveServer(settings) as live, httpx.Client(base_url=live.url, timeout=120) as client:
        user = make_user(client)
        data = big_images.gradient_png(6000, 6000).read_bytes()
        big = upload(client, user, data=data).json()["imageId"]
        fine = upload(client, user, data=gradient_png(2200, 2000)).json()["imageId"]
        assert work(live) == 2
        failed = wait_processed(client, user, big)
        assert failed["status"] == "failed" and failed["statusReason"]
        assert failed["processing"]["step"] == "derivatives"
        assert failed["processing"]["code"] == "out_of_memory"
        assert failed["scanStatus"] == "passed"  # so others may get its original
        assert client.get(f"/images/{big}", headers=user.headers).status_code == 200
        assert wait_processed(client, user, fine)["status"] == "ready"


@pytest.mark.slow
@pytest.mark.plaintext_only  # the pixel pool's limit, whatever the store
def test_time_limit_fails_the_job(settings_factory: Any, big_images: BigImages) -> None:
    settings = settings_factory(run_worker=False, job_timeout=1, job_max_attempts=1)
    with LiveServer(settings) as live, httpx.Client(base_url=live.url, timeout=120) as client:
        user = make_user(client)
        data = big_images.gradient_png(10000, 10000).read_bytes()
        slow = upload(client, user, data=data).json()["imageId"]
        assert work(live) == 1
        body = wait_processed(client, user, slow)
        assert body["status"] == "failed" and "1 s" in body["statusReason"]
        assert body["processing"]["step"] == "derivatives"
        assert body["processing"]["code"] == "timeout"
        assert client.get(f"/images/{slow}", headers=user.headers).status_code == 200


def test_processing_twice_leaves_the_same_state(client: httpx.Client, live: LiveServer) -> None:
    user = make_user(client)
    image_id = upload(client, user, data=gradient_png(900, 600)).json()["imageId"]
    first = wait_processed(client, user, image_id)
    thumb = client.get(f"/images/{image_id}/thumb.jpg").content
    meta = client.get(f"/v1/images/{image_id}/metadata").json()

    async def again() -> None:
        ctx = AppContext.build(live.settings)
        try:
            async with ctx.sessions() as s:
                queue.enqueue(s, "process_image", {"imageId": image_id}, image_id=image_id)
                await s.commit()
            await composition.worker(ctx, periodic=False).run_until_idle()
        finally:
            await ctx.close()

    anyio.run(again)
    assert client.get(f"/v1/images/{image_id}", headers=user.headers).json()["status"] == "ready"
    assert client.get(f"/images/{image_id}/thumb.jpg").content == thumb
    again_meta = client.get(f"/v1/images/{image_id}/metadata").json()
    assert again_meta["metadata"] == meta["metadata"] and first["status"] == "ready"


# The failure is injected through the local filesystem, so this one runs on
# SQLite + local files only (backoff and dead jobs run on both in test_queue).
@pytest.mark.parametrize("backend", ["sqlite-local"])
def test_retries_with_backoff_then_dead_original_kept(
    settings_factory: Any, backend: str, tmp_path: Path
) -> None:
    settings = settings_factory(run_worker=False, job_max_attempts=2)
    with LiveServer(settings) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        user = make_user(client)
        data = gradient_png(400, 300)
        image_id = upload(client, user, data=data).json()["imageId"]
        # A file where the derivatives directory must go: every store fails, for real.
        blobs = Path(live.settings.storage_url.removeprefix("file://"))
        (blobs / user.user_id / image_id / "derived").write_bytes(b"in the way")
        assert work(live) == 1  # first attempt fails; the retry is backed off
        status = client.get(f"/v1/images/{image_id}", headers=user.headers).json()["status"]
        assert status == "processing"
        assert client.get(f"/images/{image_id}", headers=user.headers).content == data
        deadline = time.monotonic() + 30
        while work(live) == 0:
            assert time.monotonic() < deadline, "the retry never became due"
            time.sleep(0.3)
        body = client.get(f"/v1/images/{image_id}", headers=user.headers).json()
        assert body["status"] == "failed", body
        assert body["processing"]["step"] == "store"
        assert body["processing"]["code"] == "store_error"
        assert client.get(f"/images/{image_id}", headers=user.headers).content == data
        r = client.get(f"/images/{image_id}/thumb.jpg", headers=user.headers)
        assert r.status_code == 409 and r.json()["code"] == "image_failed"
