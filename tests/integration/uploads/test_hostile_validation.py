"""One user's hostile uploads never stop another user's uploads, and work for
a client that has gone away is stopped (issue 14, High 1)."""

from __future__ import annotations

import io
import json
import socket
import time
from typing import Any

import httpx
import pytest
from PIL import Image

from imghost.processing.pool import PixelPool
from tests.conftest import LiveServer
from tests.factories import assert_problem, image_bytes, make_user, upload
from tests.hostile import chunky_png, gif_bomb
from tests.integration.tus.helpers import create, created_path, patch
from tests.integration.uploads.hostile import start_upload, wait_exited, wait_for

# Validation's bounds and fairness act before anything is stored: no encrypted second pass.
pytestmark = pytest.mark.plaintext_only

# Limits raised so the probe's kind of GIF passes the header checks and runs
# into decoding (10,000 frames on a 3000x3000 screen: hours of compositing):
# the case of a costly file the headers cannot refuse.
ROOMY = {"max_frames": 20_000, "max_total_pixels": 10**15, "validation_timeout": 60}


def _small_animation() -> bytes:
    frames = [Image.new("RGB", (16, 16), (i * 60, 0, 0)) for i in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=50)
    return buf.getvalue()


def _pool(live: LiveServer) -> PixelPool:
    pool: PixelPool = live.app.state.ctx.pixels
    return pool


def test_the_probes_gif_is_refused_at_once(client: httpx.Client) -> None:
    user = make_user(client)
    started = time.monotonic()
    r = upload(client, user, data=gif_bomb(), filename="bomb.gif")
    assert_problem(r, 413, "too_many_frames")
    assert time.monotonic() - started < 5


@pytest.mark.timeout(120)
def test_hostile_uploads_neither_starve_others_nor_outlive_their_client(
    settings_factory: Any,
) -> None:
    with (
        LiveServer(settings_factory(**ROOMY)) as live,
        httpx.Client(base_url=live.url, timeout=30) as client,
    ):
        attacker, other = make_user(client), make_user(client)
        pool = _pool(live)
        bomb = gif_bomb(10_000, 3000, 3000)
        sockets = [start_upload(live.port, attacker, bomb) for _ in range(3)]
        try:
            wait_for(lambda: pool.busy == 1, 30, "the first hostile upload to be decoding")
            hostile = pool.pids()
            # One slot per user: the attacker's other two uploads wait in its
            # own queue, and the other user's uploads go straight through.
            started = time.monotonic()
            png = upload(client, other, data=image_bytes("PNG", size=(8, 8)), filename="a.png")
            assert png.status_code == 201, png.text
            gif = upload(client, other, data=_small_animation(), filename="a.gif")
            assert gif.status_code == 201, gif.text
            assert time.monotonic() - started < 10
            assert pool.busy == 1  # the attacker still holds only its one slot
        finally:
            for sock in sockets:
                sock.close()
        # The client went away: its decoding process is killed at once, and
        # its queued uploads never start one.
        assert wait_exited(hostile, 10) == []
        wait_for(lambda: pool.busy == 0, 10, "the pool to be idle")
        gate = live.app.state.validation.gate
        assert gate is not None
        wait_for(lambda: gate.queued == 0, 10, "the fair queue to be empty")


@pytest.mark.timeout(120)
def test_validation_time_budget_answers_422(settings_factory: Any) -> None:
    settings = settings_factory(**{**ROOMY, "validation_timeout": 1.0})
    with (
        LiveServer(settings) as live,
        httpx.Client(base_url=live.url, timeout=30) as client,
    ):
        user = make_user(client)
        r = upload(client, user, data=gif_bomb(10_000, 2000, 2000), filename="slow.gif")
        assert_problem(r, 422, "image_too_complex")
        wait_for(lambda: _pool(live).busy == 0, 10, "the pool to be idle")


@pytest.mark.timeout(120)
def test_queue_bound_answers_429(settings_factory: Any) -> None:
    settings = settings_factory(**ROOMY, validation_queue_per_user=1)
    with (
        LiveServer(settings) as live,
        httpx.Client(base_url=live.url, timeout=30) as client,
    ):
        user = make_user(client)
        gate_sockets = [start_upload(live.port, user, gif_bomb(10_000, 2000, 2000))]
        try:
            wait_for(lambda: _pool(live).busy == 1, 30, "the first upload to be decoding")
            gate_sockets.append(start_upload(live.port, user, gif_bomb(10_000, 2000, 2000)))
            wait_for(lambda: live.app.state.validation.gate.queued == 1, 30, "the second to queue")
            r = upload(client, user, data=gif_bomb(10_000, 2000, 2000), filename="third.gif")
            body = assert_problem(r, 429, "validation_busy")
            assert "waiting" in body["detail"] and int(r.headers["retry-after"]) > 0
        finally:
            for sock in gate_sockets:
                sock.close()


@pytest.mark.timeout(120)
def test_tus_uploads_get_the_same_bounds(settings_factory: Any) -> None:
    settings = settings_factory(**{**ROOMY, "validation_timeout": 1.0})
    with (
        LiveServer(settings) as live,
        httpx.Client(base_url=live.url, timeout=30) as client,
    ):
        user = make_user(client)
        data = gif_bomb(10_000, 2000, 2000)
        path = created_path(create(client, user, len(data), filename="slow.gif"))
        started = time.monotonic()
        assert_problem(patch(client, user, path, 0, data), 422, "image_too_complex")
        assert time.monotonic() - started < 10
        # Checked in the pool (the route declares the validation scope), whose
        # process was killed at the budget.
        assert live.app.state.validation.gate is not None
        wait_for(lambda: _pool(live).busy == 0, 10, "the pool to be idle")


def _answer(sock: socket.socket) -> tuple[int, dict[str, Any]]:
    """Status and problem body of the response to a :func:`start_upload`."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536) or b"\0" * 4  # (EOF fails the parse below)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    while len(body) < int(headers["content-length"]):
        body += sock.recv(65536)
    return int(lines[0].split()[1]), json.loads(body)


@pytest.mark.timeout(120)
def test_pngs_of_countless_chunks_do_not_hold_another_users_upload(settings_factory: Any) -> None:
    # Before: every upload's headers were read on the server's two decode
    # threads, first come first served, with no cap on chunks: two 7.9 MB PNGs
    # of 660,000 empty chunks held another user's 8x8 PNG for 12.9 s, and were
    # accepted. Now a file of 1 MB or more goes to the fair gate and the pool
    # without a read, and the walk refuses it past the chunk cap (lowered here
    # so the test stays fast: 300,000 chunks, 3.6 MB).
    with (
        LiveServer(settings_factory(max_image_chunks=1000)) as live,
        httpx.Client(base_url=live.url, timeout=30) as client,
    ):
        attacker, other = make_user(client), make_user(client)
        hostile = chunky_png(300_000)
        sockets = [start_upload(live.port, attacker, hostile, "a.png") for _ in range(2)]
        try:
            started = time.monotonic()
            png = upload(client, other, data=image_bytes("PNG", size=(8, 8)), filename="b.png")
            assert png.status_code == 201, png.text
            # Far below the 12.9 s of before, with room for a busy machine
            # (2.5 s once, with two other test processes on its two cores).
            assert time.monotonic() - started < 5
            for sock in sockets:
                status, problem = _answer(sock)
                assert (status, problem["code"]) == (422, "image_too_complex")
        finally:
            for sock in sockets:
                sock.close()
