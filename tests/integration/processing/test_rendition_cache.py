"""Renditions made on request: bounded per image and in total, evicted by
least recent use and by age, never charged to the owner (issue 14, High 3)."""

from __future__ import annotations

import datetime as dt
import io
import random
from typing import Any

import httpx
from PIL import Image as PILImage
from sqlalchemy import select, update

from imghost.context import AppContext
from imghost.db import utcnow
from imghost.maintenance.gc import collect
from imghost.processing import rendition_cache
from imghost.processing.models import Rendition
from imghost.processing.variants import derived_key
from imghost.storage import envelope
from tests.conftest import LiveServer
from tests.factories import image_bytes, make_user, upload_ok
from tests.helpers.context import with_ctx
from tests.integration.quotas.helpers import server, stored, usage


def noise_png(side: int, seed: int) -> bytes:
    """Incompressible pixels: every PNG transform of it is about side² * 3 bytes."""
    rng = random.Random(seed)
    img = PILImage.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def rendition_rows(live: LiveServer) -> dict[str, tuple[str, int]]:
    """Every row of the rendition cache: key → (image id, bytes)."""

    async def read(ctx: AppContext) -> dict[str, tuple[str, int]]:
        async with ctx.sessions() as session:
            rows = await session.execute(
                select(Rendition.blob_key, Rendition.image_id, Rendition.bytes)
            )
            return {key: (image_id, int(size)) for key, image_id, size in rows}

    return with_ctx(live.settings, read)


def cached_blobs(live: LiveServer) -> dict[str, int]:
    """The cached renditions in the store, with their plaintext sizes."""
    blobs = {k: n for k, n in stored(live).items() if rendition_cache.is_rendition(k)}
    if live.settings.encryption_keys:
        # The store lists what it holds: the header and each segment's nonce and tag too.
        return {k: envelope.plaintext_size(n) for k, n in blobs.items()}
    return blobs


PER_IMAGE = 400_000
TOTAL = 700_000
WIDTHS = 6  # new sizes asked of each image in the flood


def test_a_flood_of_transforms_cannot_fill_the_quota_or_the_disk(settings_factory: Any) -> None:
    """The issue's attack: anonymous requests for new sizes of an owner's images.
    Every one is answered; the owner's usage does not move, their next upload
    is accepted, and what is kept stays within both bounds."""
    with server(
        settings_factory,
        quota_free=1_400_000,
        rendition_cache_per_image=PER_IMAGE,
        rendition_cache_total=TOTAL,
    ) as (live, client):
        owner = make_user(client)
        images = [
            upload_ok(client, owner, data=noise_png(200, seed), filename="n.png")["imageId"]
            for seed in (1, 2)
        ]
        before = usage(client, owner)
        assert before["storageBytes"] < 0.6 * before["quotaBytes"], before

        with httpx.Client(base_url=live.url, timeout=60) as stranger:
            # Never upscaled: each is a ~120 kB PNG. Six per image (720 kB) pass the
            # bound per image, twelve (1.44 MB) the total bound and, were they
            # charged to the owner, the quota: each bound is still exceeded
            # (twenty requests did no more, at two thirds more renders).
            for width in range(1000, 1000 + WIDTHS):
                for image_id in images:
                    r = stranger.get(f"/images/{image_id}/t/w_{width}.png")
                    assert r.status_code == 200, r.text
                    assert len(r.content) > 100_000
            # AVIF presets are made on request too, and cached the same way.
            assert stranger.get(f"/images/{images[0]}/large.avif").status_code == 200

        after = usage(client, owner)
        assert after["storageBytes"] == before["storageBytes"], (before, after)
        assert after["derivativesBytes"] == before["derivativesBytes"]
        r = client.post(
            "/v1/images",
            headers=owner.headers,
            files={"file": ("next.jpg", image_bytes(size=(64, 48)), "image/jpeg")},
        )
        assert r.status_code == 201, r.text

        blobs, rows = cached_blobs(live), rendition_rows(live)
        assert set(blobs) == set(rows), "every kept rendition has its row, and only those"
        assert all(rows[k][1] == n for k, n in blobs.items())
        assert 0 < sum(blobs.values()) <= TOTAL
        for image_id in images:
            kept = sum(n for k, n in blobs.items() if f"/{image_id}/" in k)
            assert 0 < kept <= PER_IMAGE, (image_id, kept)
        # The newest renditions are the ones kept: a view of one is a cache hit.
        last = 1000 + WIDTHS - 1
        newest = f"/images/{images[1]}/t/w_{last}.png"
        assert any(k.endswith(f"/t/w_{last},c_inside,q_82.png") for k in blobs)
        assert client.get(newest).status_code == 200


def test_a_rendition_larger_than_the_bound_is_served_but_not_kept(settings_factory: Any) -> None:
    with server(settings_factory, rendition_cache_per_image=50_000) as (live, client):
        owner = make_user(client)
        image_id = upload_ok(client, owner, data=noise_png(200, 3), filename="n.png")["imageId"]
        for _ in range(2):
            r = client.get(f"/images/{image_id}/t/w_999.png")
            assert r.status_code == 200 and len(r.content) > 50_000
        assert cached_blobs(live) == {} and rendition_rows(live) == {}
        # A small one of the same image is kept.
        assert client.get(f"/images/{image_id}/t/w_20.png").status_code == 200
        assert len(cached_blobs(live)) == len(rendition_rows(live)) == 1


def test_eviction_by_use_and_age_removes_rows_and_blobs(settings_factory: Any) -> None:
    """The cache's own operations, in process: least recently used first at
    write time, unused past the max age by the sweep, untracked blobs by gc,
    and every rendition with its image's purge."""
    with server(settings_factory, rendition_cache_per_image=2_500, rendition_cache_total=3_500) as (
        live,
        client,
    ):
        owner = make_user(client)
        first = upload_ok(client, owner)
        second = upload_ok(client, owner)

        def key(image: dict[str, Any], width: int) -> str:
            blob = f"{owner.user_id}/{image['imageId']}/original"
            return derived_key(blob, f"t/w_{width},c_inside,q_82.png")

        async def work(ctx: AppContext) -> None:
            cache = rendition_cache.RenditionCache(ctx.processing)

            async def keep(image: dict[str, Any], width: int, size: int = 1_000) -> bool:
                return await cache.store(image["imageId"], key(image, width), b"x" * size)

            # Per image: a third 1 kB rendition evicts the least recently used.
            assert await keep(first, 1) and await keep(first, 2)
            cache.used(key(first, 1))  # noted, written in one batch
            assert cache._flusher is not None
            cache._flusher.cancel()
            await cache.flush()
            assert await keep(first, 3)
            assert await _keys(ctx) == {key(first, 1), key(first, 3)}
            # Too large for the per-image bound: not kept, nothing evicted.
            assert not await keep(first, 4, size=2_501)
            # In total: the least recently used of any image goes.
            assert await keep(second, 1) and await keep(second, 2)
            assert await _keys(ctx) == {key(first, 3), key(second, 1), key(second, 2)}
            for gone in (key(first, 1), key(first, 2), key(first, 4)):
                assert not await _exists(ctx, gone), gone

            # Age: unused for longer than the max age → the sweep removes it.
            long_ago = utcnow() - dt.timedelta(seconds=ctx.settings.rendition_cache_max_age + 1)
            async with ctx.sessions() as session:
                await session.execute(
                    update(Rendition)
                    .where(Rendition.blob_key == key(first, 3))
                    .values(last_used_at=long_ago)
                )
                await session.commit()
            report = await rendition_cache.sweep(ctx.processing)
            assert (report.expired, report.trimmed, report.freed_bytes) == (1, 0, 1_000)
            assert await _keys(ctx) == {key(second, 1), key(second, 2)}
            assert not await _exists(ctx, key(first, 3))

            # A blob whose row is gone (a crash between the two deletes) is
            # removed by gc; tracked renditions are neither orphans nor removed.
            await ctx.store.put_bytes(key(first, 9), b"y" * 10)
            gc = await collect(ctx.gc, grace=0)
            assert (gc.untracked_renditions, gc.orphan_blobs) == (1, 0)
            assert not await _exists(ctx, key(first, 9))
            assert await _exists(ctx, key(second, 1))
            assert await _exists(ctx, key(second, 2))

        with_ctx(live.settings, work)

        # Purging the image removes its renditions, rows and blobs.
        r = client.delete(
            f"/v1/images/{second['imageId']}",
            params={"permanent": "true"},
            headers=owner.headers,
        )
        assert r.status_code == 200, r.text
        assert rendition_rows(live) == {}
        assert stored(live, f"{owner.user_id}/{second['imageId']}/") == {}


async def _keys(ctx: AppContext) -> set[str]:
    async with ctx.sessions() as session:
        rows = set(await session.scalars(select(Rendition.blob_key)))
    for key in rows:
        assert await _exists(ctx, key), key
    return rows


async def _exists(ctx: AppContext, key: str) -> bool:
    return await ctx.store.head(key) is not None
