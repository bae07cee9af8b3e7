"""Two app instances and one real redis-server: one budget; without Redis, one each;
Redis stopping mid-test: the service keeps serving and comes back to sharing."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
import pytest

from imghost.ratelimit import counters
from imghost.testing.servers import RedisServer
from tests.factories import assert_problem, image_bytes, make_user, upload
from tests.integration.ratelimit.helpers import public_image, two_instances


def _upload(client: httpx.Client, headers: dict[str, str]) -> httpx.Response:
    return client.post(
        "/v1/images",
        headers=headers,
        files={"file": ("a.jpg", image_bytes(size=(16, 16)), "application/octet-stream")},
        # The same bytes each time, each a new upload (not the duplicate).
        data={"allowDuplicate": "true"},
    )


def test_budget_is_shared_through_redis(settings_factory: Any, redis_server: RedisServer) -> None:
    settings = settings_factory(
        redis_url=redis_server.url, rate_limits_free="uploads=5/minute", run_worker=False
    )
    with two_instances(settings) as (a, b):
        user = make_user(a)
        for client in (a, a, a, b, b):
            assert _upload(client, user.headers).status_code == 201
        r = _upload(b, user.headers)  # the 6th: 3 to A and 3 to B
        body = assert_problem(r, 429, "rate_limited")
        assert body["category"] == "uploads"
        assert "5 per minute" in body["detail"]
        # A sees the same spent budget.
        assert_problem(_upload(a, user.headers), 429, "rate_limited")


def test_without_redis_each_process_counts_alone(settings_factory: Any) -> None:
    settings = settings_factory(rate_limits_free="uploads=5/minute", run_worker=False)
    with two_instances(settings) as (a, b):
        user = make_user(a)
        for client in (a, a, a, b, b, b):
            r = _upload(client, user.headers)
            assert r.status_code == 201, r.text
        assert r.headers["RateLimit-Remaining"] == "2"  # B's own count: 3 of 5
        assert _upload(a, user.headers).status_code == 201
        assert _upload(a, user.headers).status_code == 201
        assert_problem(_upload(a, user.headers), 429, "rate_limited")  # A's 6th


def _views_ok(client: httpx.Client, image_id: str, n: int) -> None:
    for _ in range(n):
        r = client.get(f"/images/{image_id}")
        assert r.status_code == 200, r.text


def test_redis_outage_keeps_serving_then_sharing_resumes(
    settings_factory: Any,
    own_redis: RedisServer,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fallback: during the outage each process counts in its own memory (logged once)."""
    monkeypatch.setattr(counters, "RETRY_INTERVAL", 0.5)  # how soon Redis is tried again
    settings = settings_factory(
        redis_url=own_redis.url,
        rate_limits_free="",
        rate_limits_anonymous="views=5/minute",
    )
    caplog.set_level(logging.WARNING, logger="imghost.ratelimit.counters")
    with two_instances(settings) as (a, b):
        owner = make_user(a)
        image_id = public_image(a, owner)
        _views_ok(a, image_id, 3)
        _views_ok(b, image_id, 2)
        assert_problem(b.get(f"/images/{image_id}"), 429, "rate_limited")

        own_redis.stop()
        # Still serving, limits still applied, now per process: a fresh budget
        # in each process's memory.
        for client in (a, b):
            _views_ok(client, image_id, 5)
            r = client.get(f"/images/{image_id}")
            assert_problem(r, 429, "rate_limited")
            assert r.headers["Retry-After"]
        time.sleep(0.6)
        for client in (a, b):
            assert_problem(client.get(f"/images/{image_id}"), 429, "rate_limited")
        outage = [r for r in caplog.records if "is unreachable" in r.getMessage()]
        assert len(outage) == 2, [r.getMessage() for r in outage]  # once per process

        own_redis.start()  # same port, no data: counts start over
        time.sleep(0.6)
        _views_ok(a, image_id, 3)
        _views_ok(b, image_id, 2)
        assert_problem(a.get(f"/images/{image_id}"), 429, "rate_limited")
        back = [r for r in caplog.records if "answers again" in r.getMessage()]
        assert len(back) == 2
        assert len([r for r in caplog.records if "is unreachable" in r.getMessage()]) == 2


def test_redis_down_from_the_start(settings_factory: Any, own_redis: RedisServer) -> None:
    own_redis.close()
    settings = settings_factory(redis_url=own_redis.url, rate_limits_free="uploads=2/minute")
    with two_instances(settings) as (a, _b):
        user = make_user(a)
        assert upload(a, user).status_code == 201
        assert upload(a, user).status_code == 201
        assert_problem(upload(a, user), 429, "rate_limited")
