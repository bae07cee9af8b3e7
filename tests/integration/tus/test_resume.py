"""Resuming: broken connections, big uploads through S3 parts, the lease, expiry, gc,
and uploads that move between API processes."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, update

from imghost.context import AppContext
from imghost.maintenance.gc import collect
from imghost.settings import Settings
from imghost.uploads.models import Upload
from tests.conftest import BACKENDS_AND_ENCRYPTED, LiveServer, backend_fixture
from tests.factories import UserHandle, assert_problem, make_user
from tests.helpers.context import with_ctx
from tests.integration.tus.helpers import (
    TUS,
    create,
    created_path,
    head,
    leftovers,
    noise_png,
    patch,
    send_partial_patch,
    status,
)

MiB = 1024 * 1024

# Encrypted on S3 too: S3 parts of whole segments, resumed.
backend = backend_fixture(BACKENDS_AND_ENCRYPTED)


def wait_offset(client: httpx.Client, user: UserHandle, path: str, want: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        r = head(client, user, path)
        if r.status_code == 200 and int(r.headers["upload-offset"]) == want:
            return
        time.sleep(0.1)
    raise AssertionError(f"offset never reached {want}: {r.status_code} {r.headers}")


@pytest.fixture
def big_settings(settings_factory: Any) -> Settings:
    # S3's minimum part, so a 13 MB file crosses two part boundaries.
    return settings_factory(s3_part_size=5 * MiB)  # type: ignore[no-any-return]


@pytest.fixture
def big_live(big_settings: Settings) -> Iterator[LiveServer]:
    with LiveServer(big_settings) as server:
        yield server


def test_broken_connections_keep_their_bytes_and_parts(big_live: LiveServer) -> None:
    data = noise_png(2100, 2100)  # ~13 MB: two full 5 MiB parts and a tail
    assert len(data) > 12 * MiB
    with httpx.Client(base_url=big_live.url, timeout=60) as client:
        user = make_user(client)
        path = created_path(create(client, user, len(data), filename="noise.png"))
        # 1: the connection drops after 7 MiB of a 9 MiB chunk.
        sock = send_partial_patch(big_live.port, path, user, 0, 9 * MiB, data[: 7 * MiB])
        wait_for_server_to_read(7)
        sock.close()
        wait_offset(client, user, path, 7 * MiB)
        found = leftovers(big_live.settings)
        # A file (local) or a tail object and a multipart upload (S3).
        assert found
        assert {item.upload_id for item in found} <= {path.rsplit("/", 1)[-1], ""}
        # 2: a chunk that ends mid-part; 3: another drop, inside the tail.
        r = patch(client, user, path, 7 * MiB, data[7 * MiB : 11 * MiB])
        assert r.status_code == 204, r.text
        sock = send_partial_patch(
            big_live.port,
            path,
            user,
            11 * MiB,
            len(data) - 11 * MiB,
            data[11 * MiB : 11 * MiB + 12345],
        )
        wait_for_server_to_read(1)
        sock.close()
        wait_offset(client, user, path, 11 * MiB + 12345)
        r = patch(client, user, path, 11 * MiB + 12345, data[11 * MiB + 12345 :])
        assert r.status_code == 204, r.text
        info = status(client, user, path)
        assert info["status"] == "completed", info
        original = client.get(f"/images/{info['imageId']}", headers=user.headers)
        assert hashlib.sha256(original.content).hexdigest() == hashlib.sha256(data).hexdigest()
    # Nothing of the upload is left: no file, no tail, no multipart upload.
    assert leftovers(big_live.settings) == []


def wait_for_server_to_read(mib: int) -> None:
    # Loopback delivers megabytes in milliseconds; give the server a moment to
    # take them in before the connection goes.
    time.sleep(0.3 + 0.05 * mib)


def test_a_second_patch_while_one_writes_gets_423(live: LiveServer, client: httpx.Client) -> None:
    user = make_user(client)
    data = noise_png(200, 200)
    path = created_path(create(client, user, len(data)))
    sock = send_partial_patch(live.port, path, user, 0, len(data), data[:1000])
    try:
        time.sleep(0.5)
        r = patch(client, user, path, 0, data)
        assert_problem(r, 423, "upload_locked")
        sock.sendall(data[1000:])
        reply = sock.recv(4096).decode()
        assert reply.startswith("HTTP/1.1 204"), reply
    finally:
        sock.close()
    assert status(client, user, path)["status"] == "completed"


def test_expired_uploads_are_collected(big_live: LiveServer) -> None:
    with httpx.Client(base_url=big_live.url, timeout=60) as client:
        user = make_user(client)
        data = os.urandom(6 * MiB)  # over one S3 part: a multipart upload exists
        path = created_path(create(client, user, 8 * MiB))
        assert patch(client, user, path, 0, data).status_code == 204
        assert leftovers(big_live.settings)
        upload_id = path.rsplit("/", 1)[-1]

        async def expire_and_collect(ctx: AppContext) -> Any:
            async with ctx.sessions() as session:
                past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
                await session.execute(
                    update(Upload).where(Upload.id == upload_id).values(expires_at=past)
                )
                await session.commit()
            return await collect(ctx.gc, grace=0)

        report = with_ctx(big_live.settings, expire_and_collect)
        assert report.tus_expired == 1
        assert leftovers(big_live.settings) == []
        r = head(client, user, path)
        assert r.status_code == 410
        assert_problem(patch(client, user, path, 6 * MiB, b"x"), 410, "upload_expired")
        assert status(client, user, path)["status"] == "expired"


def test_gc_removes_bytes_no_upload_owns(big_live: LiveServer) -> None:
    with httpx.Client(base_url=big_live.url, timeout=60) as client:
        user = make_user(client)
        path = created_path(create(client, user, 8 * MiB))
        assert patch(client, user, path, 0, os.urandom(6 * MiB)).status_code == 204
        upload_id = path.rsplit("/", 1)[-1]

        async def forget_and_collect(ctx: AppContext) -> Any:
            # As if the row never committed: its bytes are nobody's.
            async with ctx.sessions() as session:
                await session.execute(delete(Upload).where(Upload.id == upload_id))
                await session.commit()
            return await collect(ctx.gc, grace=0)

        report = with_ctx(big_live.settings, forget_and_collect)
        # local: the file; S3: the tail object and the multipart upload, which
        # went to the image's future key and is found by its id.
        assert report.tus_leftovers >= 1
        assert leftovers(big_live.settings) == []


def test_any_api_process_can_take_the_next_patch(settings: Settings) -> None:
    data = noise_png(700, 700)
    with LiveServer(settings) as one, LiveServer(settings) as two:
        a = httpx.Client(base_url=one.url, timeout=30)
        b = httpx.Client(base_url=two.url, timeout=30)
        user = make_user(a)
        path = created_path(create(a, user, len(data)))
        step = len(data) // 5 + 1
        for i, start in enumerate(range(0, len(data), step)):
            target = (a, b)[i % 2]
            r = patch(target, user, path, start, data[start : start + step])
            assert r.status_code == 204, r.text
        info = status(b, user, path)
        assert info["status"] == "completed"
        assert a.get(f"/images/{info['imageId']}", headers=user.headers).content == data
        a.close()
        b.close()


def test_offset_past_a_crash_is_the_row_s(big_live: LiveServer) -> None:
    """Bytes written but never recorded (a crash) are overwritten, not counted."""
    with httpx.Client(base_url=big_live.url, timeout=60) as client:
        user = make_user(client)
        data = noise_png(300, 300)
        path = created_path(create(client, user, len(data)))
        assert patch(client, user, path, 0, data[:5000]).status_code == 204
        upload_id = path.rsplit("/", 1)[-1]

        async def rewind(ctx: AppContext) -> None:
            async with ctx.sessions() as session:
                await session.execute(
                    update(Upload).where(Upload.id == upload_id).values(offset=0, storage={})
                )
                await session.commit()

        with_ctx(big_live.settings, rewind)
        assert head(client, user, path).headers["upload-offset"] == "0"
        r = patch(client, user, path, 0, data)
        assert r.status_code == 204, r.text
        info = status(client, user, path)
        assert client.get(f"/images/{info['imageId']}", headers=user.headers).content == data


def test_unknown_upload_and_bad_headers(client: httpx.Client) -> None:
    user = make_user(client)
    assert head(client, user, "/v1/tus/upl_nope").status_code == 404
    r = client.post("/v1/tus/", headers={**TUS, **user.headers, "Upload-Length": "-1"})
    assert_problem(r, 400, "invalid_header")
    r = client.post(
        "/v1/tus/",
        headers={**TUS, **user.headers, "Upload-Length": "5", "Upload-Metadata": "title ???"},
    )
    assert_problem(r, 400, "invalid_metadata")
    r = client.post("/v1/tus/", headers={**TUS, **user.headers})
    assert_problem(r, 400, "invalid_header")
    path = created_path(create(client, user, 10))
    r = patch(client, user, path, 0, b"x" * 20)
    assert_problem(r, 413, "upload_length_exceeded")
    assert head(client, user, path).headers["upload-offset"] == "0"


def test_a_stalled_body_is_cut_at_half_the_lease_and_its_bytes_kept(
    settings_factory: Any,
) -> None:
    lease = 4  # the shortest allowed: the cut comes after 2 s
    with (
        LiveServer(settings_factory(tus_lease=lease)) as live,
        httpx.Client(base_url=live.url, timeout=30) as client,
    ):
        user = make_user(client)
        data = noise_png(200, 200)
        path = created_path(create(client, user, len(data)))
        sent = time.monotonic()
        sock = send_partial_patch(live.port, path, user, 0, len(data), data[:3000])
        try:
            sock.settimeout(20)
            reply = sock.recv(65536).decode(errors="replace")
            waited = time.monotonic() - sent
            assert reply.startswith("HTTP/1.1 408"), reply
            assert "upload_stalled" in reply
        finally:
            sock.close()
        # Not before half the lease, and before the lease could run out (and
        # another request take the upload while this one still wrote).
        assert lease / 2 <= waited < lease, waited
        assert head(client, user, path).headers["upload-offset"] == "3000"
        # The lease went with the stalled request: the client resumes at once.
        r = patch(client, user, path, 3000, data[3000:])
        assert r.status_code == 204, r.text
