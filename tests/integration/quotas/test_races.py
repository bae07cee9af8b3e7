"""Concurrent uploads racing for the last bytes of a quota never overshoot it
(on both backends: PostgreSQL re-checks the conditional UPDATE after a
concurrent writer, SQLite runs one writer at a time)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx

from tests.conftest import LiveServer
from tests.factories import image_bytes, make_user, upload
from tests.integration.quotas.helpers import originals, presign, reservations, server, usage
from tests.integration.tus.helpers import create, upload_ids

DATA = image_bytes(size=(64, 48))
SIZE = len(DATA)
FITS = 3
QUOTA = FITS * SIZE + SIZE // 2
RACERS = 8


def race(live: LiveServer, attempt: Callable[[httpx.Client], httpx.Response]) -> list[int]:
    """Run ``attempt`` from RACERS threads released together; their statuses."""
    start = threading.Barrier(RACERS)
    statuses: list[int] = []
    lock = threading.Lock()

    def run() -> None:
        with httpx.Client(base_url=live.url, timeout=60) as client:
            start.wait()
            r = attempt(client)
            assert r.status_code in (201, 413), r.text
            if r.status_code == 413:
                assert r.json()["code"] == "quota_exceeded", r.text
            with lock:
                statuses.append(r.status_code)

    threads = [threading.Thread(target=run) for _ in range(RACERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(statuses) == RACERS
    return statuses


def test_direct_uploads_racing_for_the_last_bytes(settings_factory: Any) -> None:
    # One user sends all the racers at once: past the default cap on concurrent
    # uploads (tests/integration/bodies tests that cap).
    with server(settings_factory, quota_free=QUOTA, run_worker=False, uploads_per_user=RACERS) as (
        live,
        client,
    ):
        user = make_user(client)
        statuses = race(live, lambda c: upload(c, user, data=DATA))
        assert statuses.count(201) == FITS, statuses
        body = usage(client, user)
        assert (body["originalsBytes"], body["images"], body["reservedBytes"]) == (
            FITS * SIZE,
            FITS,
            0,
        )
        assert len(originals(live)) == FITS
        assert reservations(live) == []


def test_tus_and_presigned_creations_racing_for_the_last_bytes(settings_factory: Any) -> None:
    # One user sends all the racers at once: past the default cap on concurrent
    # uploads (tests/integration/bodies tests that cap).
    with server(settings_factory, quota_free=QUOTA, run_worker=False, uploads_per_user=RACERS) as (
        live,
        client,
    ):
        user = make_user(client)

        def either(c: httpx.Client) -> httpx.Response:
            # Half the racers start tus uploads, half presigned ones.
            if threading.get_ident() % 2:
                return create(c, user, SIZE, filename="a.jpg")
            return presign(c, user, DATA)

        statuses = race(live, either)
        assert statuses.count(201) == FITS, statuses
        assert usage(client, user)["reservedBytes"] == FITS * SIZE
        assert len(upload_ids(live.settings)) == FITS
        assert sorted(r[2] for r in reservations(live)) == [SIZE] * FITS
