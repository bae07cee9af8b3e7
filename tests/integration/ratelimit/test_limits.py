"""Rate limits on one instance: headers, upload bytes, per address, plans, identities.

The counters here live in Redis (a real redis-server) or in memory, by test.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import update

from imghost.accounts.models import User
from imghost.settings import Settings
from imghost.testing.servers import RedisServer
from tests.conftest import LiveServer
from tests.factories import assert_problem, image_bytes, make_user, upload
from tests.helpers.db import run_sql
from tests.integration.ratelimit.helpers import public_image, rl_headers
from tests.integration.tus.helpers import OCTETS, TUS, create, created_path

COUNTERS = ["memory", "redis"]


@pytest.fixture(params=COUNTERS)
def counters_at(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return ""
    server: RedisServer = request.getfixturevalue("redis_server")
    return server.url


def _live(settings: Settings) -> LiveServer:
    return LiveServer(settings)


def test_headers_and_problem_on_views(settings_factory: Any, counters_at: str) -> None:
    settings = settings_factory(
        redis_url=counters_at, rate_limits_free="views=4/minute", rate_limits_anonymous=""
    )
    with _live(settings) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        user = make_user(client)
        image_id = public_image(client, user)
        seen = []
        for path in (f"/images/{image_id}", f"/images/{image_id}/metadata"):
            r = client.get(path, headers=user.headers)
            assert r.status_code == 200, r.text
            seen.append(rl_headers(r))
            assert r.headers["RateLimit-Policy"] == "4;w=60"
        r = client.head(f"/v1/images/{image_id}/file", headers=user.headers)
        seen.append(rl_headers(r))
        r = client.get(f"/images/{image_id}/thumb.webp", headers=user.headers)
        assert r.status_code in (200, 404), r.text  # counted whatever the answer
        seen.append(rl_headers(r))
        assert [(lim, rem) for lim, rem, _ in seen] == [(4, 3), (4, 2), (4, 1), (4, 0)]
        assert all(0 < reset <= 60 for _, _, reset in seen)

        r = client.get(f"/images/{image_id}", headers=user.headers)
        body = assert_problem(r, 429, "rate_limited")
        assert body["category"] == "views"
        assert "4 views and downloads per minute" in body["detail"]
        assert "free" in body["detail"]
        retry = int(r.headers["Retry-After"])
        assert 0 < retry <= 60
        assert f"Try again in {retry} seconds" in body["detail"]
        assert body["retryAfter"] == retry
        assert r.headers["RateLimit-Remaining"] == "0"
        assert r.headers["RateLimit-Reset"] == str(retry)
        assert r.headers["Cache-Control"] == "private, no-store"
        # Routes that are not limited carry no headers and are not refused.
        r = client.get(f"/v1/images/{image_id}", headers=user.headers)
        assert r.status_code == 200
        assert "RateLimit-Limit" not in r.headers
        # Anonymous callers have their own (here: no) limits.
        assert client.get(f"/images/{image_id}").status_code == 200


def test_anonymous_views_per_address(settings_factory: Any, counters_at: str) -> None:
    settings = settings_factory(
        redis_url=counters_at,
        rate_limits_anonymous="views=3/minute",
        rate_limits_free="",
        trusted_proxies="127.0.0.1",
    )
    with _live(settings) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        owner = make_user(client)
        image_id = public_image(client, owner)
        # The test client is a trusted proxy (IMGHOST_TRUSTED_PROXIES), so
        # X-Forwarded-For names the client address.
        first = {"X-Forwarded-For": "203.0.113.7"}
        stale = {**first, "Authorization": "Bearer nope"}
        for n in range(3):
            # A bearer that does not verify is served the public image as an
            # anonymous caller, and pays from the address's budget like one.
            r = client.get(f"/images/{image_id}", headers=stale if n == 1 else first)
            assert r.status_code == 200
            assert rl_headers(r)[:2] == (3, 2 - n)
        r = client.get(f"/images/{image_id}", headers=first)
        body = assert_problem(r, 429, "rate_limited")
        assert "without signing in" in body["detail"]
        other = {"X-Forwarded-For": "203.0.113.8"}
        r = client.get(f"/images/{image_id}", headers=other)
        assert r.status_code == 200
        assert rl_headers(r)[:2] == (3, 2)
        # A bad token does not escape the address's budget.
        r = client.get(f"/images/{image_id}", headers={**first, "Authorization": "Bearer nope"})
        assert_problem(r, 429, "rate_limited")
        # A signed-in caller from that address spends their own (unlimited) budget.
        r = client.get(f"/images/{image_id}", headers={**first, **owner.headers})
        assert r.status_code == 200
        assert "RateLimit-Limit" not in r.headers


def test_premium_plan_gets_the_larger_limit(settings_factory: Any, counters_at: str) -> None:
    settings = settings_factory(
        redis_url=counters_at,
        rate_limits_free="uploads=2/minute",
        rate_limits_premium="uploads=4/minute",
        run_worker=False,
    )
    with _live(settings) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        free, premium = make_user(client), make_user(client)
        run_sql(settings, update(User).where(User.id == premium.user_id).values(plan="premium"))
        for _ in range(2):
            assert upload(client, free).status_code == 201
        r = upload(client, free)
        assert "(free)" in assert_problem(r, 429, "rate_limited")["detail"]
        for n in range(4):
            r = upload(client, premium)
            assert r.status_code == 201, r.text
            assert rl_headers(r)[:2] == (4, 3 - n)
        r = upload(client, premium)
        assert "(premium)" in assert_problem(r, 429, "rate_limited")["detail"]


def test_api_keys_count_against_their_owner(settings_factory: Any) -> None:
    settings = settings_factory(rate_limits_free="uploads=3/minute", run_worker=False)
    with _live(settings) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        user = make_user(client)
        r = client.post("/v1/users/me/api-keys", json={"name": "ci"}, headers=user.headers)
        assert r.status_code == 201, r.text
        key = {"Authorization": f"Bearer {r.json()['key']}"}
        files = {"file": ("a.jpg", image_bytes(), "application/octet-stream")}
        assert upload(client, user).status_code == 201
        copy = {"allowDuplicate": "true"}  # the factory's bytes again: a new image each time
        assert client.post("/v1/images", headers=key, files=files, data=copy).status_code == 201
        assert upload(client, user).status_code == 201
        r = client.post("/v1/images", headers=key, files=files, data=copy)
        assert_problem(r, 429, "rate_limited")


def _noise(n: int) -> bytes:
    return os.urandom(n)


def _noisy_png(side: int) -> bytes:
    """A PNG that does not compress: side x side x 3 bytes or more."""
    buf = io.BytesIO()
    Image.frombytes("RGB", (side, side), _noise(side * side * 3)).save(buf, "PNG")
    return buf.getvalue()


def test_upload_bytes_budget(settings_factory: Any, counters_at: str) -> None:
    budget = 40_000
    settings = settings_factory(
        redis_url=counters_at,
        rate_limits_free=f"upload_bytes={budget}/hour",
        run_worker=False,
    )
    with _live(settings) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        user = make_user(client)
        # A direct upload: its whole multipart body counts.
        r = upload(client, user, data=_noisy_png(60), filename="a.png")
        assert r.status_code == 201, r.text
        sent = int(r.request.headers["Content-Length"])
        limit, remaining, reset = rl_headers(r)
        assert (limit, remaining) == (budget, budget - sent)
        assert 3500 < reset <= 3600

        # tus: PATCH bytes count as they arrive; the headers show the budget.
        chunk = _noise(10_000)
        path = created_path(create(client, user, 10_000))
        r = client.patch(
            path,
            content=chunk,
            headers={**TUS, **OCTETS, **user.headers, "Upload-Offset": "0"},
        )
        assert r.status_code in (204, 400, 415, 422), r.text  # noise is no image
        assert rl_headers(r)[1] == budget - sent - 10_000
        left = budget - sent - 10_000

        # A presigned upload's declared size counts when it is accepted...
        r = client.post(
            "/v1/uploads",
            json={"filename": "b.jpg", "size": left - 100, "contentType": "image/jpeg"},
            headers=user.headers,
        )
        assert r.status_code == 201, r.text
        # ...and a size that does not fit what is left is refused before anything.
        r = client.post(
            "/v1/uploads",
            json={"filename": "c.jpg", "size": 500, "contentType": "image/jpeg"},
            headers=user.headers,
        )
        body = assert_problem(r, 429, "rate_limited")
        assert body["category"] == "upload_bytes"
        assert "100 bytes remain" in body["detail"]
        assert "this upload is 500 bytes" in body["detail"]
        assert 3500 < int(r.headers["Retry-After"]) <= 3600

        # A direct upload whose Content-Length does not fit: refused unread.
        r = upload(client, user, data=image_bytes())
        assert_problem(r, 429, "rate_limited")
        # tus creation declaring more than is left.
        r = create(client, user, 1000)
        assert_problem(r, 429, "rate_limited")
        assert r.headers["Tus-Resumable"] == "1.0.0"


def test_upload_larger_than_the_whole_budget(settings_factory: Any) -> None:
    settings = settings_factory(rate_limits_free="upload_bytes=1000/minute", run_worker=False)
    with _live(settings) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        user = make_user(client)
        r = upload(client, user, data=_noisy_png(40))
        body = assert_problem(r, 429, "rate_limited")
        assert "larger than the whole upload budget" in body["detail"]
        # tus creation is not refused for its total length: PATCHes may span windows.
        assert create(client, user, 5000).status_code == 201
        # Beyond the server's own size limits the route answers (413), not the budget.
        r = client.post(
            "/v1/uploads",
            json={"filename": "x.png", "size": 10**12, "contentType": "image/png"},
            headers=user.headers,
        )
        assert_problem(r, 413, "file_too_large")
        r = create(client, user, 10**12)
        assert r.status_code == 413, r.text
        # Within them, a declared size over the whole budget is refused by it.
        r = client.post(
            "/v1/uploads",
            json={"filename": "x.png", "size": 5000, "contentType": "image/png"},
            headers=user.headers,
        )
        assert (
            "larger than the whole upload budget"
            in assert_problem(r, 429, "rate_limited")["detail"]
        )


def test_rate_limits_can_be_turned_off(settings_factory: Any) -> None:
    settings = settings_factory(
        rate_limits_enabled=False, rate_limits_free="uploads=1/minute", run_worker=False
    )
    with _live(settings) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        user = make_user(client)
        for _ in range(3):
            r = upload(client, user)
            assert r.status_code == 201
            assert "RateLimit-Limit" not in r.headers


def _multipart(data: bytes, boundary: str = "rl-boundary") -> tuple[bytes, str]:
    body = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="a.png"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def test_bytes_without_a_declared_length_count_as_they_stream(settings_factory: Any) -> None:
    """A chunked body is let in (nothing declared to check), counted as it arrives,
    and the request after it pays: the budget can be overshot by one body."""
    budget = 30_000
    settings = settings_factory(rate_limits_free=f"upload_bytes={budget}/hour", run_worker=False)
    with _live(settings) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        user = make_user(client)
        body, content_type = _multipart(_noisy_png(100))  # over 30 kB
        assert len(body) > budget

        def chunks() -> Iterator[bytes]:
            for i in range(0, len(body), 4096):
                yield body[i : i + 4096]

        r = client.post(
            "/v1/images",
            content=chunks(),
            headers={**user.headers, "Content-Type": content_type},
        )
        assert "content-length" not in {k.lower() for k in r.request.headers}
        assert r.status_code == 201, r.text
        assert rl_headers(r)[1] == 0  # every byte counted: nothing left
        r = upload(client, user, data=image_bytes())
        assert_problem(r, 429, "rate_limited")


def test_cors_exposes_the_rate_limit_headers(settings_factory: Any) -> None:
    settings = settings_factory(rate_limits_free="uploads=5/minute", run_worker=False)
    with _live(settings) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        user = make_user(client)
        files = {"file": ("a.jpg", image_bytes(), "application/octet-stream")}
        r = client.post(
            "/v1/images",
            files=files,
            headers={**user.headers, "Origin": "https://app.example"},
        )
        assert r.status_code == 201
        exposed = {h.strip().lower() for h in r.headers["access-control-expose-headers"].split(",")}
        assert {
            "ratelimit-limit",
            "ratelimit-remaining",
            "ratelimit-reset",
            "retry-after",
        } <= exposed


def test_review_regressions(settings_factory: Any) -> None:
    """Sizes spelled as the route accepts them still count; odd bodies and
    headers answer 4xx; two limits of the same size keep separate counts."""
    settings = settings_factory(
        rate_limits_free="uploads=5/minute; upload_bytes=100000/hour; views=5/minute"
    )
    with _live(settings) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        user = make_user(client)
        image_id = public_image(client, user)  # upload 1 of 5
        # "size" as a string is still a size (the route's schema accepts it).
        r = client.post(
            "/v1/uploads",
            json={"filename": "b.jpg", "size": "90000", "contentType": "image/jpeg"},
            headers=user.headers,
        )
        assert r.status_code == 201, r.text
        r = client.post(
            "/v1/uploads",
            json={"filename": "c.jpg", "size": "50000", "contentType": "image/jpeg"},
            headers=user.headers,
        )
        assert assert_problem(r, 429, "rate_limited")["category"] == "upload_bytes"
        # A padded body cannot hide its size.
        padded = b'{"filename": "d.jpg", "contentType": "image/jpeg", "size": 10' + b" " * 70_000
        r = client.post(
            "/v1/uploads",
            content=padded + b"}",
            headers={**user.headers, "Content-Type": "application/json"},
        )
        assert_problem(r, 413, "body_too_large")
        # A superscript digit in a length header: the tus 400, not a crash.
        # A bytes value, sent as is (httpx's types want str values only).
        raw: dict[str, Any] = {**TUS, **user.headers, "Upload-Length": b"\xb2"}
        r = client.post("/v1/tus/", headers=raw)
        assert r.status_code == 400, r.text
        # Five uploads counted; views=5/minute has a count of its own.
        for n in range(5):
            r = client.get(f"/images/{image_id}", headers=user.headers)
            assert r.status_code == 200 and rl_headers(r)[1] == 4 - n, r.text
