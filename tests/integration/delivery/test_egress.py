"""Hotlink protection on the delivery path: a Referer from a host the owner did
not allow gets 403 `hotlink_denied`; no Referer, an allowed one and the
service's own are served, never into a shared cache; the owner always is.

The delivery process decides from its copy of the allow-lists, reloaded every
IMGHOST_EGRESS_REFRESH seconds: the tests reload it themselves (a long
interval) or wait for the reload a stale copy started, never for time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from imghost.context import AppContext
from imghost.testing.servers import NginxServer, Unavailable, start_nginx
from tests.conftest import BACKENDS, LiveServer, backend_fixture, unavailable
from tests.factories import UserHandle, assert_problem, make_user, upload_ok
from tests.helpers.context import on_server
from tests.helpers.orgs import team
from tests.integration.delivery.test_cdn_cache import CACHE, SERVER

# The second pass, encrypted at rest, adds nothing here: no bytes are read differently.
backend = backend_fixture(BACKENDS)

EVIL = "https://hotlinker.example.net/gallery.html"


@pytest.fixture
def settings(settings_factory: Any) -> Any:
    return settings_factory(egress_refresh=3600)


def reload(live: LiveServer) -> None:
    async def work(ctx: AppContext) -> None:
        await ctx.egress.reload()

    on_server(live, work)


def allow(
    client: httpx.Client, user: UserHandle, hosts: list[str], path: str = "/v1/users/me"
) -> dict[str, Any]:
    r = client.put(f"{path}/hotlink", headers=user.headers, json={"allowedReferrers": hosts})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def settled(ctx: AppContext) -> None:
    await ctx.egress.settled()


def fetch(
    client: httpx.Client, url: str, referer: str | None = None, **headers: str
) -> httpx.Response:
    if referer is not None:
        headers["Referer"] = referer
    return client.get(url, headers=headers)


@pytest.fixture
def edge(live: LiveServer) -> Iterator[httpx.Client]:
    """A careless shared cache in front: keyed by URL only (tests/.../test_cdn_cache.py)."""
    try:
        nginx: NginxServer = start_nginx(SERVER.replace("APP", str(live.port)), http_extra=CACHE)
    except Unavailable as exc:
        unavailable(str(exc))
        raise
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{nginx.port}", timeout=30) as client:
            yield client
    finally:
        nginx.stop()


def test_hotlink_protection(live: LiveServer, client: httpx.Client, edge: httpx.Client) -> None:
    owner = make_user(client)
    image = upload_ok(client, owner, visibility="public")["imageId"]
    other = upload_ok(client, make_user(client), visibility="public")["imageId"]
    original, thumb = f"/images/{image}", f"/images/{image}/thumb.jpg"
    assert fetch(client, original, EVIL).headers["cache-control"].startswith("public")

    body = allow(client, owner, ["Example.com", "*.example.org"])
    assert body["enabled"] and body["allowedReferrers"] == ["example.com", "*.example.org"]
    reload(live)
    for url in (original, thumb):
        denied = assert_problem(fetch(client, url, EVIL), 403, "hotlink_denied")
        assert "hotlinker.example.net" in denied["detail"]
    assert fetch(client, original, EVIL).headers["cache-control"] == "private, no-store"
    for referer in (
        "https://example.com/post",
        "https://a.b.example.org/",
        None,  # privacy tools and direct visits send none
        f"{live.url}/gallery",  # the service's own pages
    ):
        r = fetch(client, original, referer)
        assert r.status_code == 200, (referer, r.text)
        # The answer depends on the Referer: no shared cache may keep it for others.
        assert r.headers["cache-control"] == "private, no-store"
    assert fetch(client, original, "https://example.org/").status_code == 403  # not *.
    # The owner gets their image wherever they are; others' images are not affected.
    assert fetch(client, original, EVIL, **owner.headers).status_code == 200
    assert fetch(client, f"/images/{other}", EVIL).status_code == 200

    # Through a shared cache keyed by URL: an allowed site's copy never reaches another.
    for _ in range(2):
        r = fetch(edge, original, "https://example.com/")
        assert r.status_code == 200 and r.headers["x-cache"] != "HIT"
    assert fetch(edge, original, EVIL).status_code == 403
    fetch(edge, f"/images/{other}", EVIL)
    assert fetch(edge, f"/images/{other}", EVIL).headers["x-cache"] == "HIT"

    # An empty list turns protection off.
    assert allow(client, owner, [])["enabled"] is False
    reload(live)
    r = fetch(client, original, EVIL)
    assert r.status_code == 200 and r.headers["cache-control"].startswith("public")


def test_org_images_follow_the_orgs_list(live: LiveServer, client: httpx.Client) -> None:
    crew = team(client)
    org_image = upload_ok(client, crew.member, albumId=crew.album, visibility="public")
    own_image = upload_ok(client, crew.member, visibility="public")
    allow(client, crew.owner, ["example.com"], f"/v1/orgs/{crew.org}")
    reload(live)
    assert_problem(fetch(client, f"/images/{org_image['imageId']}", EVIL), 403, "hotlink_denied")
    # The uploader's own list is not the org's: their image outside the org is open.
    assert fetch(client, f"/images/{own_image['imageId']}", EVIL).status_code == 200


def test_a_stale_copy_is_reloaded_in_the_background(settings_factory: Any) -> None:
    """With a short interval, the request that finds the copy stale is answered
    from it and starts a reload; the next request sees the change."""
    with (
        LiveServer(settings_factory(egress_refresh=0.001)) as live,
        httpx.Client(base_url=live.url, timeout=60) as client,
    ):
        owner = make_user(client)
        image = upload_ok(client, owner, visibility="public")["imageId"]
        assert fetch(client, f"/images/{image}", EVIL).status_code == 200  # the first load
        on_server(live, settled)  # no reload in flight that began before the change
        allow(client, owner, ["example.com"])
        fetch(client, f"/images/{image}", EVIL)  # answered from the stale copy, or not
        on_server(live, settled)
        assert_problem(fetch(client, f"/images/{image}", EVIL), 403, "hotlink_denied")
