"""Presets and on-demand transforms through the real service, on both backends."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import anyio
import httpx
from PIL import Image

from imghost import composition
from imghost.context import AppContext
from imghost.processing import ondemand
from tests.conftest import LiveServer
from tests.factories import assert_problem, image_bytes, make_user, upload, upload_ok


def dims(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as img:
        return img.size


def test_presets_after_processing(client: httpx.Client) -> None:
    user = make_user(client)
    img = upload_ok(client, user, data=image_bytes("PNG", size=(3000, 1500)))
    assert img["status"] == "ready" and (img["width"], img["height"]) == (3000, 1500)
    expected = {"thumb": (256, 256), "small": (320, 160), "medium": (1024, 512)}
    expected["large"] = (2048, 1024)
    for preset, size in expected.items():
        for ext, mime in (("jpg", "image/jpeg"), ("webp", "image/webp"), ("avif", "image/avif")):
            r = client.get(f"/images/{img['imageId']}/{preset}.{ext}")
            assert r.status_code == 200, (preset, ext, r.text)
            assert r.headers["content-type"] == mime
            assert r.headers["cache-control"].startswith("public, max-age=")
            assert dims(r.content) == size, (preset, ext)
            with Image.open(io.BytesIO(r.content)) as out:
                assert not out.getexif(), "derivatives carry no EXIF"
            again = client.get(
                f"/images/{img['imageId']}/{preset}.{ext}",
                headers={"If-None-Match": r.headers["etag"]},
            )
            assert again.status_code == 304
    assert_problem(client.get(f"/images/{img['imageId']}/huge.jpg"), 404, "not_found")
    assert_problem(client.get(f"/images/{img['imageId']}/thumb.gif"), 404, "not_found")


def test_never_upscaled(client: httpx.Client) -> None:
    user = make_user(client)
    img = upload_ok(client, user, data=image_bytes("JPEG", size=(100, 50)))
    for preset in ("thumb", "small", "large"):
        r = client.get(f"/images/{img['imageId']}/{preset}.jpg")
        w, h = dims(r.content)
        assert w <= 100 and h <= 50, preset
    assert dims(client.get(f"/images/{img['imageId']}/thumb.jpg").content) == (50, 50)


def test_transforms(client: httpx.Client) -> None:
    user = make_user(client)
    img = upload_ok(client, user, data=image_bytes("PNG", size=(800, 600)))
    base = f"/images/{img['imageId']}/t"
    cases = {
        "w_200.jpg": (200, 150),
        "h_300.png": (400, 300),
        "w_100,h_100,c_cover.webp": (100, 100),
        "w_100,h_100,c_inside.jpg": (100, 75),
        "w_100,h_100,c_fill.jpg": (100, 100),
        "w_100,h_100,c_contain.png": (100, 100),
        "w_4000.jpg": (800, 600),  # never upscaled
    }
    for spec, size in cases.items():
        r = client.get(f"{base}/{spec}")
        assert r.status_code == 200, (spec, r.text)
        assert dims(r.content) == size, spec
    # Option order does not matter: the same stored rendition, the same ETag.
    a = client.get(f"{base}/c_cover,w_100,h_100.webp")
    b = client.get(f"{base}/w_100,h_100,c_cover.webp")
    assert a.headers["etag"] == b.headers["etag"] and a.content == b.content
    for bad in ("w_0.jpg", "w_5000.jpg", "q_101,w_10.jpg", "w_10.gif", "x_1.jpg", "c_zoom,w_5.jpg"):
        r = client.get(f"{base}/{bad}")
        assert_problem(r, 400, "invalid_transform")
        assert "Grammar" in r.json()["detail"] or "format" in r.json()["detail"]
    assert_problem(client.get(f"{base}/h_5,h_6.jpg"), 400, "invalid_transform")


def test_auto_format_negotiation(client: httpx.Client) -> None:
    user = make_user(client)
    img = upload_ok(client, user, data=image_bytes("PNG", size=(300, 200)))
    url = f"/images/{img['imageId']}/t/w_120.auto"
    for accept, mime in (
        ("image/avif,image/webp,*/*", "image/avif"),
        ("image/webp,*/*;q=0.8", "image/webp"),
        ("image/avif;q=0,image/webp", "image/webp"),
        ("*/*", "image/jpeg"),
        ("", "image/jpeg"),
    ):
        r = client.get(url, headers={"Accept": accept})
        assert r.status_code == 200 and r.headers["content-type"] == mime, accept
        assert r.headers["vary"] == "Accept, Authorization"


def test_transform_cache_misses_are_bounded(client: httpx.Client) -> None:
    user = make_user(client)
    img = upload_ok(client, user, data=image_bytes("PNG", size=(300, 300)))
    statuses = []
    for width in range(1, ondemand.PER_IMAGE + 3):
        statuses.append(client.get(f"/images/{img['imageId']}/t/w_{width}.jpg").status_code)
    assert statuses[: ondemand.PER_IMAGE] == [200] * ondemand.PER_IMAGE
    r = client.get(f"/images/{img['imageId']}/t/w_299.jpg")
    assert_problem(r, 429, "rate_limited")
    assert int(r.headers["retry-after"]) >= 1
    # Renditions already stored are still served: only new sizes are limited.
    assert client.get(f"/images/{img['imageId']}/t/w_1.jpg").status_code == 200
    assert client.get(f"/images/{img['imageId']}/small.jpg").status_code == 200


def test_before_processing(settings_factory: Any) -> None:
    """Owner-only while processing; derivatives render on demand; then public."""
    settings = settings_factory(run_worker=False)
    with LiveServer(settings) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        user = make_user(client)
        r = upload(client, user, data=image_bytes("PNG", size=(640, 480)))
        image_id = r.json()["imageId"]
        assert r.json()["status"] == "processing"
        for path in (
            f"/images/{image_id}",
            f"/v1/images/{image_id}",
            f"/images/{image_id}/thumb.jpg",
        ):
            assert_problem(client.get(path), 404, "not_found")
        owner_thumb = client.get(f"/images/{image_id}/thumb.jpg", headers=user.headers)
        assert owner_thumb.status_code == 200 and dims(owner_thumb.content) == (256, 256)
        assert owner_thumb.headers["cache-control"] == "private, no-store"
        listing = client.get(f"/v1/users/{user.user_id}/images").json()
        assert listing["total"] == 0

        async def work() -> int:
            ctx = AppContext.build(live.settings)
            try:
                return await composition.worker(ctx, periodic=False).run_until_idle()
            finally:
                await ctx.close()

        assert anyio.run(work) == 1
        assert client.get(f"/images/{image_id}").status_code == 200
        meta = client.get(f"/v1/images/{image_id}/metadata").json()
        assert meta["status"] == "ready" and meta["metadata"]["frames"] == 1
        assert client.get(f"/v1/users/{user.user_id}/images").json()["total"] == 1


def test_unicode_digits_are_not_numbers(client: httpx.Client) -> None:
    user = make_user(client)
    img = upload_ok(client, user, data=image_bytes("PNG", size=(50, 50)))
    r = client.get(f"/images/{img['imageId']}/t/w_%C2%B2.jpg")
    assert_problem(r, 400, "invalid_transform")


def test_identical_first_requests_render_once(client: httpx.Client, live: LiveServer) -> None:
    user = make_user(client)
    img = upload_ok(client, user, data=image_bytes("PNG", size=(1600, 1200)))
    url = f"{live.url}/images/{img['imageId']}/t/w_777,c_inside.avif"

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as ac:
            return list(await asyncio.gather(*(ac.get(url) for _ in range(8))))

    responses = anyio.run(burst)
    assert {r.status_code for r in responses} == {200}
    assert len({r.content for r in responses}) == 1
    # Eight identical requests spent one render of the per-image budget: the
    # rest of it is still there for other sizes.
    for width in range(1, ondemand.PER_IMAGE):
        r = client.get(f"/images/{img['imageId']}/t/w_{width}.jpg")
        assert r.status_code == 200, (width, r.text)
    assert client.get(f"/images/{img['imageId']}/t/w_999.jpg").status_code == 429


def test_transform_cache_misses_are_bounded_per_client(client: httpx.Client) -> None:
    user = make_user(client)
    per_image = ondemand.PER_IMAGE
    images_needed = ondemand.PER_CLIENT // per_image + 1
    ids = [
        upload_ok(client, user, data=image_bytes("PNG", size=(60 + i, 60)))["imageId"]
        for i in range(images_needed)
    ]
    made = 0
    for image_id in ids:
        for width in range(1, per_image + 1):
            if made == ondemand.PER_CLIENT:
                break
            assert client.get(f"/images/{image_id}/t/w_{width}.jpg").status_code == 200
            made += 1
    r = client.get(f"/images/{ids[-1]}/t/w_{per_image + 5}.jpg")
    body = assert_problem(r, 429, "rate_limited")
    assert "for you" in body["detail"]
