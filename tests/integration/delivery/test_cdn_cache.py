"""Caching must not leak: a shared cache (nginx proxy_cache) in front of imghost.

The cache is configured as a careless CDN would be: it keys by URL only and
does not skip requests that carry credentials, so it relies on nothing but
imghost's Cache-Control and Vary. Public answers are cached; answers that
depend on who asks (private images, the owner's GPS original, share-link and
signed-URL reads) never are, so no one receives another caller's answer.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from PIL import Image

from imghost.testing.servers import NginxServer, Unavailable, start_nginx
from tests.conftest import LiveServer, unavailable
from tests.factories import make_user, upload_ok

CACHE = "proxy_cache_path {root}/cache levels=1:2 keys_zone=imgcache:10m inactive=10m;"
SERVER = """
    location / {
        proxy_pass http://127.0.0.1:APP;
        proxy_cache imgcache;
        proxy_cache_key $scheme$proxy_host$request_uri;
        proxy_cache_valid 200 10m;
        add_header X-Cache $upstream_cache_status always;
    }
"""


@pytest.fixture
def cdn(live: LiveServer) -> Iterator[httpx.Client]:
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


def gps_jpeg() -> bytes:
    img = Image.new("RGB", (64, 48), (10, 200, 30))
    exif = Image.Exif()
    exif.get_ifd(0x8825).update({1: "N", 2: (43.0, 28.0, 2.0), 3: "E", 4: (11.0, 53.0, 6.0)})
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def test_public_answers_are_cached(client: httpx.Client, cdn: httpx.Client) -> None:
    owner = make_user(client)
    iid = upload_ok(client, owner)["imageId"]
    first = cdn.get(f"/images/{iid}/thumb.jpg")
    second = cdn.get(f"/images/{iid}/thumb.jpg")
    assert first.status_code == second.status_code == 200
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")


def test_private_image_is_never_served_from_cache(client: httpx.Client, cdn: httpx.Client) -> None:
    owner = make_user(client)
    iid = upload_ok(client, owner, visibility="private")["imageId"]
    for path in (f"/images/{iid}", f"/images/{iid}/thumb.jpg", f"/images/{iid}/metadata"):
        mine = cdn.get(path, headers=owner.headers)
        assert mine.status_code == 200 and mine.headers["x-cache"] != "HIT"
        theirs = cdn.get(path)
        assert theirs.status_code == 403, (path, theirs.headers.get("x-cache"))


def test_owner_gps_original_does_not_reach_others(client: httpx.Client, cdn: httpx.Client) -> None:
    data = gps_jpeg()
    owner = make_user(client)
    iid = upload_ok(client, owner, data=data)["imageId"]
    mine = cdn.get(f"/images/{iid}", headers=owner.headers)
    assert mine.content == data  # the owner's file, GPS included
    for _ in range(2):
        theirs = cdn.get(f"/images/{iid}")
        assert theirs.status_code == 200 and theirs.content != data
        with Image.open(io.BytesIO(theirs.content)) as img:
            assert not img.getexif().get_ifd(0x8825)


def test_share_link_reads_stop_at_revocation(client: httpx.Client, cdn: httpx.Client) -> None:
    owner = make_user(client)
    iid = upload_ok(client, owner, visibility="private")["imageId"]
    r = client.post(
        f"/v1/images/{iid}/links", headers=owner.headers, json={"permissions": ["view"]}
    )
    link = r.json()["linkId"]
    token = cdn.post(f"/v1/links/{link}/open", json={}).json()["token"]
    path = f"/images/{iid}/medium.jpg?share={token}"
    for _ in range(2):
        got = cdn.get(path)
        assert got.status_code == 200 and got.headers["x-cache"] != "HIT"
    assert client.delete(f"/v1/links/{link}", headers=owner.headers).status_code == 204
    assert cdn.get(path).status_code == 403


def test_signed_url_reads_are_not_shared(client: httpx.Client, cdn: httpx.Client) -> None:
    owner = make_user(client)
    iid = upload_ok(client, owner, visibility="private")["imageId"]
    r = client.post(
        f"/v1/images/{iid}/share",
        headers=owner.headers,
        json={"expiresIn": 600, "variant": "small.webp"},
    )
    url = urlsplit(r.json()["shareUrl"])
    query = dict(parse_qsl(url.query))
    for _ in range(2):
        got = cdn.get(url.path, params=query)
        assert got.status_code == 200 and got.headers["x-cache"] != "HIT"
        assert got.headers["cache-control"].startswith("private, max-age=")
    assert cdn.get(url.path).status_code == 403
