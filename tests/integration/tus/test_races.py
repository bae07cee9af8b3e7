"""Requests that overlap, leases that run out, gc in between, edge sizes: on both backends.

Interleavings are forced by holding a server function (in the live server's
thread, same process) until the test lets it go.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from imghost.errors import AppError
from imghost.images.models import Image
from imghost.maintenance.gc import collect
from imghost.settings import Settings
from imghost.uploads import services as uploads
from tests.conftest import LiveServer
from tests.factories import UserHandle, assert_problem, image_bytes, make_user
from tests.helpers.context import with_ctx
from tests.integration.tus.helpers import (
    TUS,
    create,
    created_path,
    leftovers,
    noise_png,
    patch,
    send_partial_patch,
    set_row,
    status,
    steal_lease,
    upload_ids,
    upload_row,
)

MiB = 1024 * 1024


@pytest.fixture
def big_live(settings_factory: Any) -> Iterator[LiveServer]:
    # S3's minimum part: a 6 MB file makes a multipart upload at the image's key.
    with LiveServer(settings_factory(s3_part_size=5 * MiB)) as server:
        yield server


def hold_first_call(
    monkeypatch: pytest.MonkeyPatch, target: str
) -> tuple[threading.Event, threading.Event]:
    """Hold the next call of async ``target`` until ``go`` is set; ``reached`` says it came."""
    module_name, name = target.rsplit(".", 1)
    module = importlib.import_module(module_name)
    real = getattr(module, name)
    reached, go = threading.Event(), threading.Event()

    async def held(*args: Any, **kwargs: Any) -> Any:
        if not reached.is_set():
            reached.set()
            while not go.is_set():
                await asyncio.sleep(0.01)
        return await real(*args, **kwargs)

    monkeypatch.setattr(module, name, held)
    return reached, go


def decoding_fails_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The next validation answers 503 (no memory to decode): the upload stays pending."""
    real = uploads.check_new_image

    async def failing(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(uploads, "check_new_image", real)
        raise AppError(503, "insufficient_memory", "Not now.")

    monkeypatch.setattr(uploads, "check_new_image", failing)


def original(client: httpx.Client, user: UserHandle, path: str) -> bytes:
    info = status(client, user, path)
    assert info["status"] == "completed", info
    r = client.get(f"/images/{info['imageId']}", headers=user.headers)
    assert r.status_code == 200, r.status_code
    return r.content


def send_partial(client: httpx.Client, user: UserHandle, data: bytes) -> str:
    path = created_path(create(client, user, len(data), headers={"Upload-Concat": "partial"}))
    if data:
        assert patch(client, user, path, 0, data).status_code == 204
    assert status(client, user, path)["status"] == "uploaded"
    return path


def create_final(client: httpx.Client, user: UserHandle, paths: list[str]) -> httpx.Response:
    headers = {**TUS, **user.headers, "Upload-Concat": "final;" + " ".join(paths)}
    return client.post("/v1/tus/", headers=headers)


def test_gc_keeps_the_partials_a_pending_final_upload_needs(
    live: LiveServer, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_user(client)
    data = image_bytes("PNG", size=(400, 300))
    half = len(data) // 2
    paths = [send_partial(client, user, data[:half]), send_partial(client, user, data[half:])]
    decoding_fails_once(monkeypatch)
    assert_problem(create_final(client, user, paths), 503, "insufficient_memory")
    [final_id] = upload_ids(live.settings, concat="final")
    final = f"/v1/tus/{final_id}"
    # gc runs while the client waits to retry: the partials are the final's bytes.
    with_ctx(live.settings, lambda ctx: collect(ctx.gc, grace=0))
    r = patch(client, user, final, len(data), b"")
    assert r.status_code == 204, r.text
    assert original(client, user, final) == data
    assert leftovers(live.settings) == []


def test_terminating_a_final_upload_frees_its_partials(
    live: LiveServer, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_user(client)
    data = image_bytes("PNG", size=(300, 300))
    half = len(data) // 2
    paths = [send_partial(client, user, data[:half]), send_partial(client, user, data[half:])]
    decoding_fails_once(monkeypatch)
    assert_problem(create_final(client, user, paths), 503, "insufficient_memory")
    [final_id] = upload_ids(live.settings, concat="final")
    r = client.delete(f"/v1/tus/{final_id}", headers={**TUS, **user.headers})
    assert r.status_code == 204, r.text
    with_ctx(live.settings, lambda ctx: collect(ctx.gc, grace=0))
    assert leftovers(live.settings) == []
    for path in paths:
        assert upload_row(live.settings, path.rsplit("/", 1)[-1]).cleaned_at is not None


def test_an_expired_partial_cannot_be_concatenated(live: LiveServer, client: httpx.Client) -> None:
    user = make_user(client)
    path = send_partial(client, user, b"x" * 100)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    set_row(live.settings, path.rsplit("/", 1)[-1], expires_at=past)
    assert_problem(create_final(client, user, [path]), 400, "invalid_concatenation")
    assert status(client, user, path)["status"] == "uploaded"  # gc's to expire


def test_a_retry_that_waited_for_the_lease_does_not_finish_twice(
    live: LiveServer, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_user(client)
    data = image_bytes("PNG", size=(300, 300))
    path = created_path(create(client, user, len(data)))
    decoding_fails_once(monkeypatch)
    assert_problem(patch(client, user, path, 0, data), 503, "insufficient_memory")
    # Two retries: the first one read the upload (pending) and waits for the
    # lease while the second one finishes it.
    reached, go = hold_first_call(monkeypatch, "imghost.tus.leases.acquire")
    with httpx.Client(base_url=live.url, timeout=60) as other, ThreadPoolExecutor(1) as pool:
        try:
            late = pool.submit(patch, other, user, path, len(data), b"")
            assert reached.wait(20)
            r = patch(client, user, path, len(data), b"")
            assert r.status_code == 204, r.text
        finally:
            go.set()
        r = late.result(timeout=60)
    assert r.status_code == 204, r.text
    assert original(client, user, path) == data


def test_a_finish_that_lost_its_lease_leaves_the_upload_alone(
    live: LiveServer, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_user(client)
    data = image_bytes("PNG", size=(300, 300))
    path = created_path(create(client, user, len(data)))
    upload_id = path.rsplit("/", 1)[-1]
    real = uploads.add_new_image

    def add_then_lose_the_lease(
        session: Any, image: Image, settings: Settings, album_id: str | None = None
    ) -> None:
        monkeypatch.setattr(uploads, "add_new_image", real)
        real(session, image, settings, album_id)
        # The lease ran out while the image was stored (another thread: the
        # server's event loop is this one).
        thief = threading.Thread(target=steal_lease, args=(live.settings, upload_id))
        thief.start()
        thief.join()

    monkeypatch.setattr(uploads, "add_new_image", add_then_lose_the_lease)
    assert_problem(patch(client, user, path, 0, data), 423, "upload_locked")
    row = upload_row(live.settings, upload_id)
    assert (row.status, row.image_id, row.lock_token) == ("pending", None, "lck_thief")
    # The lease holder (here: nobody, once it runs out) finishes it.
    set_row(live.settings, upload_id, lock_token=None, locked_until=None)
    r = patch(client, user, path, len(data), b"")
    assert r.status_code == 204, r.text
    assert original(client, user, path) == data


def test_delete_racing_the_last_patch_leaves_the_image(
    big_live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = noise_png(1450, 1450)  # over one part: on S3 the bytes are at the image's key
    first = 5 * MiB + 1000
    assert len(data) > first + 1000
    with (
        httpx.Client(base_url=big_live.url, timeout=60) as client,
        httpx.Client(base_url=big_live.url, timeout=60) as other,
        ThreadPoolExecutor(1) as pool,
    ):
        user = make_user(client)
        path = created_path(create(client, user, len(data)))
        assert patch(client, user, path, 0, data[:first]).status_code == 204
        # DELETE read the upload (pending) and waits for the lease while the
        # last PATCH finishes it.
        reached, go = hold_first_call(monkeypatch, "imghost.tus.leases.acquire")
        try:
            deleting = pool.submit(other.delete, path, headers={**TUS, **user.headers})
            assert reached.wait(20)
            r = patch(client, user, path, first, data[first:])
            assert r.status_code == 204, r.text
        finally:
            go.set()
        assert_problem(deleting.result(timeout=60), 409, "upload_already_finalized")
        assert original(client, user, path) == data


def test_a_patch_that_lost_its_lease_writes_no_more(
    live: LiveServer, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("imghost.tus.receive.CHECKPOINT_SECONDS", 0.0)
    user = make_user(client)
    path = created_path(create(client, user, 100_000))
    upload_id = path.rsplit("/", 1)[-1]
    sock = send_partial_patch(live.port, path, user, 0, 100_000, b"")
    try:
        deadline = time.monotonic() + 20
        while upload_row(live.settings, upload_id).lock_token is None:
            assert time.monotonic() < deadline, "the PATCH never took the lease"
            time.sleep(0.05)
        steal_lease(live.settings, upload_id)
        sock.sendall(b"x" * 5000)  # the next checkpoint finds the lease gone
        sock.settimeout(20)
        reply = sock.recv(65536).decode(errors="replace")
        assert reply.startswith("HTTP/1.1 423"), reply
    finally:
        sock.close()
    row = upload_row(live.settings, upload_id)
    assert (row.offset, row.lock_token) == (0, "lck_thief")
    # On S3 the tail object is the lease holder's: this request did not write it.
    tail = with_ctx(live.settings, lambda ctx: ctx.store.head(f"tus/{upload_id}/tail"))
    assert tail is None


def test_an_empty_upload_is_a_clean_4xx(live: LiveServer, client: httpx.Client) -> None:
    user = make_user(client)
    assert_problem(create(client, user, 0), 422, "invalid_image")
    [upload_id] = upload_ids(live.settings, owner_id=user.user_id)
    row = upload_row(live.settings, upload_id)
    assert (row.status, row.error_code, row.lock_token) == ("failed", "invalid_image", None)
    assert leftovers(live.settings) == []


def test_an_empty_partial_in_a_final_upload(client: httpx.Client) -> None:
    user = make_user(client)
    data = image_bytes("PNG", size=(200, 200))
    paths = [send_partial(client, user, b""), send_partial(client, user, data)]
    final = created_path(create_final(client, user, paths))
    assert original(client, user, final) == data


def test_an_unexpected_error_in_a_final_upload_frees_it(
    live: LiveServer, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_user(client)
    data = image_bytes("PNG", size=(200, 200))
    half = len(data) // 2
    paths = [send_partial(client, user, data[:half]), send_partial(client, user, data[half:])]
    real = uploads.sha256_file

    def broken(path: Any) -> str:
        monkeypatch.setattr(uploads, "sha256_file", real)
        raise OSError("disk trouble")

    monkeypatch.setattr(uploads, "sha256_file", broken)
    assert create_final(client, user, paths).status_code == 500
    [final_id] = upload_ids(live.settings, concat="final")
    assert upload_row(live.settings, final_id).lock_token is None
    final = f"/v1/tus/{final_id}"
    r = patch(client, user, final, len(data), b"")
    assert r.status_code == 204, r.text
    assert original(client, user, final) == data


def test_a_failed_commit_keeps_the_bytes_for_a_retry(
    big_live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = noise_png(1450, 1450)  # over one part: on S3 the bytes are adopted in place
    real = uploads.add_new_image

    def add_broken(
        session: Any, image: Image, settings: Settings, album_id: str | None = None
    ) -> None:
        monkeypatch.setattr(uploads, "add_new_image", real)
        real(session, image, settings, album_id)
        image.owner_id = "usr_nobody"  # the commit fails (foreign key)

    with httpx.Client(base_url=big_live.url, timeout=60) as client:
        user = make_user(client)
        path = created_path(create(client, user, len(data)))
        monkeypatch.setattr(uploads, "add_new_image", add_broken)
        assert patch(client, user, path, 0, data).status_code == 500
        row = upload_row(big_live.settings, path.rsplit("/", 1)[-1])
        assert (row.status, row.lock_token) == ("pending", None)
        r = patch(client, user, path, len(data), b"")
        assert r.status_code == 204, r.text
        assert original(client, user, path) == data
