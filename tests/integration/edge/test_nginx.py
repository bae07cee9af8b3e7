"""The edge tier through the real nginx, configured by `imghost edge-config`'s renderer.

Public answers are cached and revalidated; an image that stops being public
stops being served within IMGHOST_EDGE_MAX_AGE (1 s); answers the cache must
not keep are sent by nginx from the blob file after imghost authorized them;
credentials never touch the cache; bodies over the service's limits are
refused at the edge.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from imghost.edge.nginx import SENDFILE_PREFIX
from imghost.testing.edge import start_edge
from imghost.testing.servers import Unavailable
from tests.conftest import LiveServer, backend_fixture, unavailable
from tests.factories import make_user, upload_ok

# The edge's behaviour does not depend on the database; sendfile needs local files.
backend = backend_fixture(["sqlite-local"])

MAX_BODY = 1024 * 1024


@pytest.fixture
def settings(settings_factory: object) -> object:
    return settings_factory(max_file_size=MAX_BODY, max_batch_size=MAX_BODY)  # type: ignore[operator]


@pytest.fixture
def edge(live: LiveServer) -> Iterator[httpx.Client]:
    try:
        server = start_edge(live.settings, [live.port])
    except Unavailable as exc:
        unavailable(str(exc))
        raise
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            yield client
    finally:
        server.stop()


def _served_until(edge: httpx.Client, path: str, deadline: float) -> float:
    """Seconds until the edge stops answering 200 for ``path`` (asked every 50 ms:
    this measures a time bound, so it has to look at the clock)."""
    start = time.monotonic()
    while time.monotonic() - start < deadline:
        if edge.get(path).status_code != 200:
            return time.monotonic() - start
        time.sleep(0.05)
    return deadline


def test_public_answers_are_cached_then_stop_within_a_second(
    client: httpx.Client, edge: httpx.Client
) -> None:
    owner = make_user(client)
    hidden = upload_ok(client, owner)["imageId"]
    deleted = upload_ok(client, owner)["imageId"]
    paths = [f"/images/{hidden}", f"/images/{hidden}/thumb.webp", f"/images/{deleted}"]
    for path in paths:
        first, second = edge.get(path), edge.get(path)
        assert first.status_code == second.status_code == 200, path
        assert "s-maxage=1" in first.headers["cache-control"]
        assert first.headers["x-cache-status"] == "MISS"
        # (REVALIDATED: the second came after the second its entry lived in.)
        assert second.headers["x-cache-status"] in ("HIT", "REVALIDATED")
        assert first.content == second.content
    r = client.patch(f"/v1/images/{hidden}", json={"visibility": "private"}, headers=owner.headers)
    assert r.status_code == 200, r.text
    assert client.delete(f"/v1/images/{deleted}", headers=owner.headers).status_code == 200
    for path in paths:
        assert _served_until(edge, path, 3.0) <= 1.0 + 0.2, path  # a request's time


def test_credentials_never_touch_the_cache(client: httpx.Client, edge: httpx.Client) -> None:
    owner = make_user(client)
    iid = upload_ok(client, owner)["imageId"]
    for _ in range(2):
        mine = edge.get(f"/images/{iid}/thumb.webp", headers=owner.headers)
        assert mine.status_code == 200
        assert mine.headers["x-cache-status"] == "BYPASS"
    assert edge.get(f"/images/{iid}/thumb.webp").headers["x-cache-status"] == "MISS"


def test_private_bytes_are_sent_by_nginx_after_imghost_authorizes(
    client: httpx.Client, live: LiveServer, edge: httpx.Client
) -> None:
    owner = make_user(client)
    iid = upload_ok(client, owner, visibility="private")["imageId"]
    direct = client.get(f"/images/{iid}", headers=owner.headers)
    assert direct.status_code == 200
    # The origin, asked by the edge, names the file instead of sending it...
    delegated = client.get(
        f"/images/{iid}", headers={**owner.headers, "X-Imghost-Sendfile": SENDFILE_PREFIX}
    )
    assert delegated.status_code == 200 and delegated.content == b""
    assert delegated.headers["x-accel-redirect"].startswith(SENDFILE_PREFIX)
    # ...and nginx sends it with the origin's headers, never the redirect's name.
    got = edge.get(f"/images/{iid}", headers=owner.headers)
    assert got.status_code == 200 and got.content == direct.content
    assert "x-accel-redirect" not in got.headers
    for name in ("etag", "cache-control", "content-type", "x-content-type-options"):
        assert got.headers[name] == direct.headers[name], name
    part = edge.get(f"/images/{iid}", headers={**owner.headers, "Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == direct.content[10:20]
    # Authorization still decides: a stranger gets the origin's refusal.
    assert edge.get(f"/images/{iid}").status_code == 403
    key = delegated.headers["x-accel-redirect"].removeprefix(SENDFILE_PREFIX)
    assert edge.get(f"{SENDFILE_PREFIX}{key}").status_code == 404  # internal only


def test_bodies_over_the_limits_are_refused_at_the_edge(edge: httpx.Client) -> None:
    r = edge.post("/v1/images", content=b"x" * (3 * MAX_BODY))
    assert r.status_code == 413
