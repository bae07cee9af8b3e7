"""POST /v1/images {sourceUrl}: fetched through the webhook SSRF guard, under the
upload limits, a deadline and a redirect cap; every failure a problem+json."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from imghost.errors import AppError
from imghost.notifications import addresses
from imghost.uploads import fetch
from imghost.uploads.spool import Spool
from tests.conftest import LiveServer
from tests.factories import assert_problem, make_user, wait_processed
from tests.integration.quotas.helpers import originals, reservations
from tests.integration.uploads.source_server import SourceServer

# The fetcher's rules; what it fetches is stored as any upload is: no encrypted second pass.
pytestmark = pytest.mark.plaintext_only

LIMIT = 200_000


@pytest.fixture
def source() -> Iterator[SourceServer]:
    with SourceServer() as s:
        yield s


@pytest.fixture
def fetching(settings_factory: Any) -> Iterator[tuple[LiveServer, httpx.Client]]:
    """The app with loopback sources allowed (the test-only setting)."""
    settings = settings_factory(
        fetch_allow_private=True,
        fetch_timeout=2.0,
        fetch_max_redirects=2,
        max_file_size=LIMIT,
    )
    with LiveServer(settings) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        yield live, client


def from_url(client: httpx.Client, headers: dict[str, str], url: str, **body: Any) -> Any:
    return client.post("/v1/images", headers=headers, json={"sourceUrl": url, **body})


def test_an_image_from_a_url(
    fetching: tuple[LiveServer, httpx.Client], source: SourceServer
) -> None:
    live, client = fetching
    user = make_user(client)
    r = from_url(client, user.headers, source.url("/hop/2"), title="Fetched", tags=["web"])
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["duplicate"] is False and body["title"] == "Fetched"
    assert body["tags"] == ["web"] and body["format"] == "jpeg"
    assert body["size"] == len(source.image)
    assert wait_processed(client, user, body["imageId"])["status"] == "ready"
    original = client.get(f"/images/{body['imageId']}", headers=user.headers)
    assert original.content == source.image
    # Every redirect was followed (two, the cap).
    assert source.paths == ["/hop/2", "/hop/1", "/img.jpg"]

    # The same bytes again: the existing image, nothing fetched into storage twice.
    stored = originals(live)
    r = from_url(client, user.headers, source.url("/img.jpg"))
    assert r.status_code == 200, r.text
    assert r.json()["duplicate"] is True and r.json()["imageId"] == body["imageId"]
    assert originals(live) == stored
    r = from_url(client, user.headers, source.url("/img.jpg"), allowDuplicate=True)
    assert r.status_code == 201, r.text
    assert reservations(live) == []


def test_what_the_source_does_wrong(
    fetching: tuple[LiveServer, httpx.Client], source: SourceServer
) -> None:
    live, client = fetching
    headers = make_user(client).headers
    stored = originals(live)
    cases = [
        ("/loop", 502, "too_many_redirects"),
        ("/hop/3", 502, "too_many_redirects"),
        ("/missing", 502, "source_error"),
        ("/page.html", 415, "unsupported_media_type"),
        # No Content-Length: cut off at the limit while it streams.
        (f"/chunked/{LIMIT * 3}", 413, "file_too_large"),
        # A declared size over the limit is refused before a byte is read.
        (f"/declared/{LIMIT + 1}", 413, "file_too_large"),
    ]
    for path, status, code in cases:
        assert_problem(from_url(client, headers, source.url(path)), status, code)
    # Nothing of them stored, nothing held against the quota.
    assert originals(live) == stored
    assert reservations(live) == []


def test_a_slow_source_times_out(
    fetching: tuple[LiveServer, httpx.Client], source: SourceServer
) -> None:
    _, client = fetching
    headers = make_user(client).headers
    r = from_url(client, headers, source.url("/stall"))
    assert_problem(r, 504, "source_timeout")


def test_unreachable_and_malformed_sources(fetching: tuple[LiveServer, httpx.Client]) -> None:
    _, client = fetching
    headers = make_user(client).headers
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    r = from_url(client, headers, f"http://127.0.0.1:{closed}/x.jpg")
    assert_problem(r, 502, "source_unreachable")
    for bad in ["ftp://example.com/x.jpg", "http://user:pw@example.com/", "not a url"]:
        assert_problem(from_url(client, headers, bad), 422, "invalid_source_url")
    r = client.post(
        "/v1/images", headers=headers, json={"sourceUrl": "http://x.test/a", "uploadId": "upl_x"}
    )
    assert_problem(r, 422, "validation_error")
    r = client.post("/v1/images", headers=headers, json={"sourceUrl": 5})
    assert_problem(r, 422, "validation_error")
    r = client.post("/v1/images", json={"sourceUrl": "http://x.test/a"})
    assert r.status_code == 401


def test_loopback_is_refused_without_the_test_setting(
    client: httpx.Client, source: SourceServer
) -> None:
    """The default settings: the guard refuses loopback, private and mapped forms."""
    headers = make_user(client).headers
    for url in [
        source.url("/img.jpg"),
        f"http://localhost:{source.port}/img.jpg",
        f"http://[::ffff:127.0.0.1]:{source.port}/img.jpg",
        "http://10.0.0.1/img.jpg",
        "http://169.254.169.254/latest/meta-data",
    ]:
        r = from_url(client, headers, url)
        assert_problem(r, 422, "source_address_not_allowed")
    assert source.paths == []  # not one request reached it


def test_each_redirect_target_is_checked_again(
    source: SourceServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A source the guard allows redirecting to an address it refuses: stopped
    at the redirect. (127.0.0.1 stands for a public address here, 127.0.0.2
    for a private one.)"""
    public = ipaddress.ip_address("127.0.0.1")
    real = addresses.allowed
    monkeypatch.setattr(
        addresses, "allowed", lambda ip, allow_private: ip == public or real(ip, allow_private)
    )
    limits = fetch.FetchLimits(timeout=5, max_redirects=3, max_size=LIMIT, allow_private=False)

    async def run(url: str) -> str | None:
        spool = Spool(tmp_path, LIMIT)
        try:
            return await fetch.fetch(url, spool, limits)
        finally:
            spool.cleanup()

    assert anyio.run(run, source.url("/hop/1")) == "img.jpg"
    source.paths.clear()
    elsewhere = f"/to/http://127.0.0.2:{source.port}/img.jpg"
    with pytest.raises(AppError) as refused:
        anyio.run(run, source.url(elsewhere))
    assert refused.value.status == 422 and refused.value.code == "source_address_not_allowed"
    assert source.paths == [elsewhere]  # the redirect's target was never requested


def test_fetched_bytes_count_against_the_upload_byte_budget(
    settings_factory: Any, source: SourceServer
) -> None:
    budget = len(source.image) * 3 // 2  # room for one fetch, not two
    settings = settings_factory(
        fetch_allow_private=True,
        rate_limits_free=f"uploads=600/minute; upload_bytes={budget}/hour",
    )
    with LiveServer(settings) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        headers = make_user(client).headers
        r = from_url(client, headers, source.url("/img.jpg"))
        assert r.status_code == 201, r.text
        r = from_url(client, headers, source.url("/img.jpg"), allowDuplicate=True)
        problem = assert_problem(r, 429, "rate_limited")
        assert problem["category"] == "upload_bytes" and int(r.headers["retry-after"]) > 0
        assert len(originals(live)) == 1
        assert reservations(live) == []
