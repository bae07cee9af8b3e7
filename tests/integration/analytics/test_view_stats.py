"""View analytics end to end: delivery counts in memory, the flusher writes them,
GET /v1/images/{id}/stats reads them back (both backends)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
from sqlalchemy import text

from imghost.analytics import flush as flushing
from imghost.analytics import services as analytics
from imghost.db import create_engine
from tests.conftest import LiveServer
from tests.factories import UserHandle, assert_problem, image_bytes, make_user, upload_ok

FAST = 0.2  # seconds between flushes in these tests


def query(live: LiveServer, sql: str, **params: Any) -> list[Any]:
    async def main() -> list[Any]:
        engine = create_engine(live.settings.database_url)
        try:
            async with engine.begin() as conn:
                result = await conn.execute(text(sql), params)
                return list(result.all()) if result.returns_rows else []
        finally:
            await engine.dispose()

    return anyio.run(main)


@pytest.fixture
def fast(settings_factory: Any) -> Iterator[LiveServer]:
    with LiveServer(settings_factory(analytics_flush_interval=FAST)) as server:
        yield server


def _public_image(client: httpx.Client) -> tuple[UserHandle, str, bytes]:
    owner = make_user(client)
    data = image_bytes("PNG", size=(300, 200))
    return owner, upload_ok(client, owner, data=data, filename="a.png")["imageId"], data


def _stats_when(
    client: httpx.Client, owner: UserHandle, image_id: str, done: Any, **params: Any
) -> dict[str, Any]:
    """Poll the owner's stats until ``done(body)``: counts arrive with the next flush."""
    deadline = time.monotonic() + 15
    while True:
        r = client.get(f"/v1/images/{image_id}/stats", headers=owner.headers, params=params)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        if done(body):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def test_views_downloads_and_bandwidth(fast: LiveServer) -> None:
    with httpx.Client(base_url=fast.url, timeout=60) as client:
        owner, image_id, original = _public_image(client)
        thumbs = [client.get(f"/images/{image_id}/thumb.webp") for _ in range(3)]
        assert [r.status_code for r in thumbs] == [200] * 3
        thumb, etag = thumbs[0].content, thumbs[0].headers["etag"]
        for _ in range(2):
            assert client.get(f"/images/{image_id}").content == original
        # A range from the first byte is a download; a resumed one adds only bytes.
        first = client.get(f"/images/{image_id}", headers={"Range": "bytes=0-9"})
        rest = client.get(f"/images/{image_id}", headers={"Range": "bytes=10-"})
        assert first.status_code == rest.status_code == 206
        assert first.content + rest.content == original
        # Neither HEAD nor 304 nor a refused request serves a body: none counts.
        assert client.head(f"/images/{image_id}").status_code == 200
        assert client.head(f"/images/{image_id}/thumb.webp").status_code == 200
        unchanged = {"If-None-Match": etag}
        assert client.get(f"/images/{image_id}/thumb.webp", headers=unchanged).status_code == 304
        assert client.get(f"/images/{image_id}", headers={"If-None-Match": "*"}).status_code == 304
        assert client.get(f"/images/{image_id}/nope.webp").status_code == 404

        views, downloads = 3, 3
        bandwidth = 3 * len(thumb) + 3 * len(original)
        body = _stats_when(
            client, owner, image_id, lambda b: b["views"] + b["downloads"] >= views + downloads
        )
        time.sleep(3 * FAST)  # anything miscounted would have landed by now
        body = client.get(f"/v1/images/{image_id}/stats", headers=owner.headers).json()
        today = dt.datetime.now(dt.UTC).date().isoformat()
        assert body == {
            "imageId": image_id,
            "views": views,
            "downloads": downloads,
            "bandwidthBytes": bandwidth,
            "daily": [
                {
                    "day": today,
                    "views": views,
                    "downloads": downloads,
                    "bandwidthBytes": bandwidth,
                }
            ],
        }
    # The most-viewed order counts every view and download; the owner's bandwidth too.
    [(view_count,)] = query(fast, "SELECT view_count FROM images WHERE id = :i", i=image_id)
    assert view_count == views + downloads
    rows = query(
        fast,
        "SELECT day, bandwidth_bytes FROM owner_bandwidth_daily WHERE owner_id = :o",
        o=owner.user_id,
    )
    assert [(str(day), n) for day, n in rows] == [(today, bandwidth)]


def test_stats_are_for_the_owner_only(client: httpx.Client) -> None:
    owner, image_id, _ = _public_image(client)
    other = make_user(client)
    assert_problem(
        client.get(f"/v1/images/{image_id}/stats", headers=other.headers), 403, "forbidden"
    )
    assert_problem(client.get(f"/v1/images/{image_id}/stats"), 403, "forbidden")
    assert_problem(client.get("/v1/images/img_nope/stats", headers=owner.headers), 404, "not_found")
    for days in ("0", "366", "x"):
        r = client.get(f"/v1/images/{image_id}/stats", headers=owner.headers, params={"days": days})
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    r = client.get(f"/v1/images/{image_id}/stats", headers=owner.headers)
    assert r.status_code == 200
    assert r.json() == {
        "imageId": image_id,
        "views": 0,
        "downloads": 0,
        "bandwidthBytes": 0,
        "daily": [],
    }


def test_daily_window_and_all_time_totals(live: LiveServer, client: httpx.Client) -> None:
    owner, image_id, _ = _public_image(client)
    today = dt.datetime.now(dt.UTC).date()
    for age, n in ((400, 1), (40, 2), (29, 3), (0, 4)):
        query(
            live,
            "INSERT INTO image_stats_daily (image_id, day, views, downloads, bandwidth_bytes)"
            " VALUES (:i, :d, :n, :n, :n)",
            i=image_id,
            d=today - dt.timedelta(days=age),
            n=n,
        )

    def days_of(body: dict[str, Any]) -> list[tuple[str, int]]:
        return [(d["day"], d["views"]) for d in body["daily"]]

    url, auth = f"/v1/images/{image_id}/stats", owner.headers
    body = client.get(url, headers=auth).json()
    assert (body["views"], body["downloads"], body["bandwidthBytes"]) == (10, 10, 10)
    iso = [(today - dt.timedelta(days=age)).isoformat() for age in (400, 40, 29, 0)]
    assert days_of(body) == [(iso[2], 3), (iso[3], 4)]  # the last 30 days, oldest first
    assert days_of(client.get(url, headers=auth, params={"days": 1}).json()) == [(iso[3], 4)]
    year = client.get(url, headers=auth, params={"days": 365}).json()
    assert days_of(year) == [(iso[1], 2), (iso[2], 3), (iso[3], 4)]


def test_a_failed_flush_keeps_the_counts(
    fast: LiveServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = analytics.write_counts
    failures: list[int] = []

    async def fails_once(session: Any, batch: Any, budgets: Any) -> None:
        if not failures:
            failures.append(len(batch.images))
            raise RuntimeError("database unavailable")
        await real(session, batch, budgets)

    with httpx.Client(base_url=fast.url, timeout=60) as client:
        owner, image_id, original = _public_image(client)
        monkeypatch.setattr(flushing, "write_counts", fails_once)
        assert client.get(f"/images/{image_id}").status_code == 200
        deadline = time.monotonic() + 15
        while not failures:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert client.get(f"/images/{image_id}").status_code == 200
        body = _stats_when(client, owner, image_id, lambda b: b["downloads"] >= 2)
        assert (body["downloads"], body["bandwidthBytes"]) == (2, 2 * len(original))
    assert "writing view counts failed" in caplog.text


def test_counts_are_written_at_shutdown(settings_factory: Any) -> None:
    """A long interval: only the flush at shutdown writes. Counts of an image
    removed meanwhile are dropped without failing the others."""
    with LiveServer(settings_factory(analytics_flush_interval=3600)) as live:
        with httpx.Client(base_url=live.url, timeout=60) as client:
            _, kept, data = _public_image(client)
            _, gone, _ = _public_image(client)
            assert client.get(f"/images/{kept}").status_code == 200
            assert client.get(f"/images/{gone}").status_code == 200
        query(live, "DELETE FROM images WHERE id = :i", i=gone)
        assert query(live, "SELECT count(*) FROM image_stats_daily") == [(0,)]
    rows = query(live, "SELECT image_id, downloads, bandwidth_bytes FROM image_stats_daily")
    assert rows == [(kept, 1, len(data))]
