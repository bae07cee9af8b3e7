"""Renditions made on request come from the smallest stored preset that covers
them, the original otherwise (issue 19): proved through the service by taking
the original's bytes away, after which only a preset can answer."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image

from imghost.context import AppContext
from imghost.processing.variants import derived_key
from tests.conftest import LiveServer
from tests.factories import UserHandle, assert_problem, make_user, upload_ok
from tests.helpers.context import with_ctx

RED, BLUE = (220, 20, 20), (20, 20, 220)


def rotated_jpeg() -> bytes:
    """Upright 600x900, red above blue; stored lying on its side with EXIF
    orientation 6, as phones write it."""
    upright = Image.new("RGB", (600, 900), BLUE)
    upright.paste(RED, (0, 0, 600, 450))
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    upright.transpose(Image.Transpose.ROTATE_90).save(buf, "JPEG", quality=90, exif=exif)
    return buf.getvalue()


def webp(alpha: bool) -> bytes:
    """800x600, red in the middle, transparent (or blue) around it."""
    img = Image.new("RGBA", (800, 600), (0, 0, 0, 0) if alpha else (*BLUE, 255))
    img.paste((*RED, 255), (200, 150, 600, 450))
    buf = io.BytesIO()
    (img if alpha else img.convert("RGB")).save(buf, "WEBP", quality=90)
    return buf.getvalue()


def animated_webp() -> bytes:
    frames = [Image.new("RGB", (800, 600), colour) for colour in (RED, BLUE)]
    buf = io.BytesIO()
    frames[0].save(buf, "WEBP", save_all=True, append_images=frames[1:], duration=100)
    return buf.getvalue()


def original_key(user: UserHandle, image_id: str) -> str:
    return f"{user.user_id}/{image_id}/original"


def drop(live: LiveServer, *keys: str) -> None:
    async def main(ctx: AppContext) -> None:
        for key in keys:
            await ctx.store.delete(key)

    with_ctx(live.settings, main)


def put(live: LiveServer, key: str, data: bytes) -> None:
    async def main(ctx: AppContext) -> None:
        await ctx.store.put_bytes(key, data)

    with_ctx(live.settings, main)


def opened(r: httpx.Response) -> Image.Image:
    assert r.status_code == 200, r.text
    img = Image.open(io.BytesIO(r.content))
    img.load()
    return img


def near(img: Image.Image, xy: tuple[int, int], colour: tuple[int, int, int]) -> bool:
    pixel = img.convert("RGBA").getpixel(xy)
    assert isinstance(pixel, tuple)
    return all(abs(a - b) < 40 for a, b in zip(pixel, colour, strict=False))


def test_transforms_come_from_a_preset_when_one_covers_them(
    client: httpx.Client, live: LiveServer
) -> None:
    owner = make_user(client)
    photo = upload_ok(client, owner, data=rotated_jpeg(), filename="p.jpg")
    clear = upload_ok(client, owner, data=webp(alpha=True), filename="a.webp")
    opaque = upload_ok(client, owner, data=webp(alpha=False), filename="o.webp")
    assert (photo["width"], photo["height"]) == (600, 900)
    drop(live, *(original_key(owner, i["imageId"]) for i in (photo, clear, opaque)))

    # The small preset (213x320) covers these: served without the original,
    # upright like the original would give them.
    out = opened(client.get(f"/images/{photo['imageId']}/t/w_200.webp"))
    assert out.size == (200, 300)
    assert near(out, (100, 20), RED) and near(out, (100, 280), BLUE)
    cover = opened(client.get(f"/images/{photo['imageId']}/t/w_150,h_100,c_cover.jpg"))
    assert cover.size == (150, 100) and near(cover, (75, 10), RED)
    assert opened(client.get(f"/images/{photo['imageId']}/small.avif")).size == (213, 320)

    # Alpha survives: the WebP preset was the source.
    transparent = opened(client.get(f"/images/{clear['imageId']}/t/w_160.webp"))
    assert transparent.mode == "RGBA" and transparent.size == (160, 120)
    assert transparent.getchannel("A").getpixel((2, 2)) == 0 and near(transparent, (80, 60), RED)

    # Without alpha (as the metadata recorded), the JPEG preset: it decodes faster.
    drop(live, derived_key(original_key(owner, opaque["imageId"]), "small.webp"))
    solid = opened(client.get(f"/images/{opaque['imageId']}/t/w_160.webp"))
    assert solid.mode == "RGB" and near(solid, (2, 2), BLUE) and near(solid, (80, 60), RED)

    # Larger than the small preset, and medium is the original's own size:
    # only the original could answer, and it is gone.
    r = client.get(f"/images/{photo['imageId']}/t/w_400.webp")
    assert_problem(r, 503, "blob_unavailable")


@pytest.mark.parametrize("backend", ["sqlite-local"])
def test_the_original_when_presets_cannot_serve(client: httpx.Client, live: LiveServer) -> None:
    owner = make_user(client)
    moving = upload_ok(client, owner, data=animated_webp(), filename="m.webp")
    photo = upload_ok(client, owner, data=rotated_jpeg(), filename="p.jpg")
    photo_id = photo["imageId"]

    # A missing preset, then one that does not decode: the original serves.
    drop(live, derived_key(original_key(owner, photo_id), "small.jpg"))
    assert opened(client.get(f"/images/{photo_id}/t/w_100.webp")).size == (100, 150)
    put(live, derived_key(original_key(owner, photo_id), "small.jpg"), b"not an image")
    assert opened(client.get(f"/images/{photo_id}/t/w_90.webp")).size == (90, 135)

    # PNG asked for, or an animated original: never from a preset.
    drop(live, original_key(owner, photo_id), original_key(owner, moving["imageId"]))
    assert_problem(client.get(f"/images/{photo_id}/t/w_80.png"), 503, "blob_unavailable")
    r = client.get(f"/images/{moving['imageId']}/t/w_100.webp")
    assert_problem(r, 503, "blob_unavailable")
