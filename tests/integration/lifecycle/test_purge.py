"""Permanent purge on both backends: on request, by the sweep after the window
(with the clock moved forward), resumed after a crash in the middle, and gc's
report of orphans in either direction."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy import func, select, text

from imghost.images.models import Image
from imghost.lifecycle import purge, services
from imghost.lifecycle.models import PurgedImage, TrashEntry
from tests.conftest import LiveServer
from tests.factories import (
    UserHandle,
    assert_problem,
    image_bytes,
    make_user,
    upload_ok,
    wait_processed,
)
from tests.helpers.context import with_ctx
from tests.integration.lifecycle.helpers import (
    DAY,
    image_keys,
    run_gc,
    run_sweep,
)
from tests.integration.tus.helpers import leftovers, set_row, status, upload_ids, upload_whole


def rows(live: LiveServer, image_id: str) -> dict[str, int]:
    """How many rows of each table still mention the image."""

    async def work(ctx: Any) -> dict[str, int]:
        found = {}
        async with ctx.sessions() as session:
            for table in (
                "images",
                "image_tags",
                "trash",
                "album_images",
                "image_collaborators",
                "share_links",
                "image_search",
                "jobs",
                "image_stats_daily",
                "uploads",
            ):
                column = "id" if table == "images" else "image_id"
                found[table] = await _count(session, table, column, image_id)
            found["purged_images"] = await _count(session, "purged_images", "image_id", image_id)
        return found

    return with_ctx(live.settings, work)


async def _count(session: Any, table: str, column: str, image_id: str) -> int:
    value = await session.scalar(
        text(f"SELECT count(*) FROM {table} WHERE {column} = :id"), {"id": image_id}
    )
    return int(value or 0)


def rich_image(client: httpx.Client, owner: UserHandle, word: str) -> str:
    """A processed image with presets, an AVIF preset and a cached transform,
    in an album, with a collaborator and a share link."""
    image_id: str = upload_ok(client, owner, title=word, tags="sea")["imageId"]
    for path in ("thumb.avif", "t/w_30,h_30,c_cover.webp"):
        assert client.get(f"/images/{image_id}/{path}").status_code == 200
    album = client.post("/v1/albums", headers=owner.headers, json={"title": "A"}).json()
    r = client.post(
        f"/v1/albums/{album['albumId']}/images",
        headers=owner.headers,
        json={"imageIds": [image_id]},
    )
    assert r.status_code == 200, r.text
    assert client.post(f"/v1/images/{image_id}/links", headers=owner.headers, json={}).is_success
    return image_id


def assert_purged(live: LiveServer, owner: UserHandle, image_id: str) -> None:
    assert image_keys(live, owner.user_id, image_id) == []
    left = rows(live, image_id)
    assert left.pop("purged_images") == 1
    assert not any(left.values()), left


def assert_clean(live: LiveServer) -> None:
    report = run_gc(live, grace=0, dry_run=True)
    assert report.orphan_blobs == 0, report.orphan_keys
    assert report.dangling_rows == 0, report.dangling_images


def test_permanent_delete_removes_every_byte_and_row(
    client: httpx.Client, live: LiveServer
) -> None:
    owner, other = make_user(client), make_user(client)
    word = f"harbour{owner.user_id[-6:]}"
    image_id = rich_image(client, owner, word)
    kept = upload_ok(client, owner)["imageId"]
    stored = image_keys(live, owner.user_id, image_id)
    assert any(k.endswith("thumb.avif") for k in stored) and any("/t/" in k for k in stored)

    assert_problem(
        client.delete(f"/v1/images/{image_id}?permanent=true", headers=other.headers),
        403,
        "forbidden",
    )
    r = client.delete(f"/v1/images/{image_id}", params={"permanent": "true"}, headers=owner.headers)
    assert r.status_code == 200, r.text
    assert r.json()["purged"] is True and r.json()["status"] == "deleted"
    assert_purged(live, owner, image_id)
    assert_clean(live)

    for path in (f"/v1/images/{image_id}", f"/images/{image_id}", f"/images/{image_id}/thumb.jpg"):
        assert client.get(path, headers=owner.headers).status_code == 404
    assert word not in client.get("/v1/images", params={"q": word}).text
    assert client.get("/v1/trash", headers=owner.headers).json()["total"] == 0
    # Gone for good: a restore says so to the owner; others learn nothing.
    r = client.post(f"/v1/images/{image_id}/restore", headers=owner.headers)
    assert_problem(r, 410, "image_purged")
    r = client.post(f"/v1/images/{image_id}/restore", headers=other.headers)
    assert_problem(r, 404, "not_found")
    # Idempotent: purging again answers the same.
    r = client.delete(f"/v1/images/{image_id}?permanent=true", headers=owner.headers)
    assert r.status_code == 200 and r.json()["purged"] is True
    assert_problem(
        client.delete(f"/v1/images/{image_id}", headers=owner.headers), 410, "image_purged"
    )
    # Other images are untouched.
    assert client.get(f"/images/{kept}").status_code == 200
    assert image_keys(live, owner.user_id, kept)


def test_purge_from_the_trash(client: httpx.Client, live: LiveServer) -> None:
    owner = make_user(client)
    image_id = rich_image(client, owner, "trashpurge")
    assert client.delete(f"/v1/images/{image_id}", headers=owner.headers).status_code == 200
    assert image_keys(live, owner.user_id, image_id)
    r = client.delete(f"/v1/images/{image_id}?permanent=true", headers=owner.headers)
    assert r.status_code == 200 and r.json()["purged"] is True
    assert_purged(live, owner, image_id)
    assert_clean(live)


def test_sweep_purges_after_the_window(client: httpx.Client, live: LiveServer) -> None:
    owner = make_user(client)
    word = f"beacon{owner.user_id[-6:]}"
    old = rich_image(client, owner, word)
    young = upload_ok(client, owner, title=word)["imageId"]
    live_one = upload_ok(client, owner, title=word)["imageId"]
    now = dt.datetime.now(dt.UTC)
    for image_id in (old, young):
        assert client.delete(f"/v1/images/{image_id}", headers=owner.headers).status_code == 200

    # `old` was deleted ten days before `young`.
    async def backdate(ctx: Any) -> None:
        async with ctx.sessions() as session:
            entry = await session.get(TrashEntry, old)
            entry.deleted_at -= 10 * DAY
            entry.purge_at -= 10 * DAY
            await session.commit()

    with_ctx(live.settings, backdate)

    # 19 days on: both still in the trash, nothing purged.
    report = run_sweep(live, now + 19 * DAY)
    assert report.marked == 0 and report.purged == 0
    assert image_keys(live, owner.user_id, old)

    # 21 days on: the first one's window has ended, the second's has not.
    report = run_sweep(live, now + 21 * DAY)
    assert (report.marked, report.purged, report.failed) == (1, 1, 0)
    assert_purged(live, owner, old)
    assert image_keys(live, owner.user_id, young)
    trash = client.get("/v1/trash", headers=owner.headers).json()
    assert [i["imageId"] for i in trash["images"]] == [young]
    found = client.get(
        "/v1/images", params={"q": word, "user": owner.user_id}, headers=owner.headers
    )
    assert [i["imageId"] for i in found.json()["images"]] == [live_one]
    # A second sweep at the same moment has nothing left to do.
    assert run_sweep(live, now + 21 * DAY).purged == 0
    # The young one restores; a sweep far in the future leaves live images alone.
    assert client.post(f"/v1/images/{young}/restore", headers=owner.headers).status_code == 200
    assert run_sweep(live, now + 400 * DAY).purged == 0
    assert client.get(f"/images/{young}").status_code == 200
    assert_clean(live)


def test_crash_in_the_middle_of_a_purge_is_finished_by_the_next_sweep(
    client: httpx.Client, live: LiveServer
) -> None:
    owner = make_user(client)
    image_id = rich_image(client, owner, "crashpurge")
    stored = image_keys(live, owner.user_id, image_id)
    assert len(stored) > 4
    now = dt.datetime.now(dt.UTC)
    assert client.delete(f"/v1/images/{image_id}", headers=owner.headers).status_code == 200

    # The store fails after three deletes: the sweep leaves the image marked,
    # part of its bytes gone, its row in place.
    report = run_sweep(live, now + 31 * DAY, fail_after=3)
    assert (report.marked, report.purged, report.failed) == (1, 0, 1)
    left = image_keys(live, owner.user_id, image_id)
    assert 0 < len(left) == len(stored) - 3
    # The original goes last, so the row still leads to what is left.
    assert f"{owner.user_id}/{image_id}/original" in left
    assert rows(live, image_id)["images"] == 1

    async def marked(ctx: Any) -> bool:
        async with ctx.sessions() as session:
            entry = await session.get(TrashEntry, image_id)
            return entry is not None and entry.purging_since is not None

    assert with_ctx(live.settings, marked)
    # Meanwhile: gone from every read path, no restore, and for gc neither an
    # orphan (the row exists) nor a dangling row (its purge is under way).
    assert client.get(f"/v1/images/{image_id}", headers=owner.headers).status_code == 404
    assert client.get(f"/images/{image_id}/thumb.jpg").status_code == 404
    r = client.post(f"/v1/images/{image_id}/restore", headers=owner.headers)
    assert_problem(r, 410, "image_purged")
    assert_clean(live)

    # A crash once the bytes are all gone but before the rows: same outcome.
    report = run_sweep(live, now + 31 * DAY, fail_after=len(left))
    assert report.failed == 0 and report.purged == 1
    assert_purged(live, owner, image_id)
    assert_clean(live)


def test_crash_after_the_bytes_before_the_rows(client: httpx.Client, live: LiveServer) -> None:
    owner = make_user(client)
    image_id = rich_image(client, owner, "rowsnext")
    now = dt.datetime.now(dt.UTC)
    assert client.delete(f"/v1/images/{image_id}", headers=owner.headers).status_code == 200

    async def bytes_only(ctx: Any) -> None:
        # The sweep's first two steps, then the process dies before the rows.
        async with ctx.sessions() as session:
            assert await services.mark_due(session, now + 31 * DAY) == 1
            await session.commit()
            image = await session.get(Image, image_id)
            blob_key, public_key = image.blob_key, image.public_blob_key
        await purge._delete_bytes(ctx.purging, blob_key, public_key, [])

    with_ctx(live.settings, bytes_only)
    assert image_keys(live, owner.user_id, image_id) == []
    assert rows(live, image_id)["images"] == 1
    # A row whose bytes are gone, but on purpose: not reported as dangling.
    assert_clean(live)
    report = run_sweep(live, now + 31 * DAY)
    assert (report.marked, report.purged, report.failed) == (0, 1, 0)
    assert_purged(live, owner, image_id)
    assert_clean(live)


def test_purge_of_a_never_processed_image(settings_factory: Any) -> None:
    live = LiveServer(settings_factory(run_worker=False))
    with live, httpx.Client(base_url=live.url, timeout=60) as client:
        owner = make_user(client)
        r = client.post(
            "/v1/images",
            headers=owner.headers,
            files={"file": ("a.png", image_bytes("PNG"), "application/octet-stream")},
        )
        assert r.status_code == 201, r.text
        image_id = r.json()["imageId"]
        assert image_keys(live, owner.user_id, image_id) == [f"{owner.user_id}/{image_id}/original"]
        r = client.delete(f"/v1/images/{image_id}?permanent=true", headers=owner.headers)
        assert r.status_code == 200 and r.json()["purged"] is True
        assert_purged(live, owner, image_id)
        assert_clean(live)


def test_gc_reports_orphans_in_both_directions(client: httpx.Client, live: LiveServer) -> None:
    owner = make_user(client)
    image_id = upload_ok(client, owner)["imageId"]
    lost = upload_ok(client, owner)["imageId"]
    assert_clean(live)
    # A derivative left by a render that finished after its image was purged,
    # and an image whose original vanished from the store.
    stray = f"{owner.user_id}/img_strayaaaaaaaaaaaaaaaaaaaaaaa/derived/v1/thumb.jpg"

    async def damage(ctx: Any) -> None:
        await ctx.store.put_bytes(stray, b"stray")
        await ctx.store.delete(f"{owner.user_id}/{lost}/original")

    with_ctx(live.settings, damage)
    report = run_gc(live, grace=0, dry_run=True)
    assert report.dry_run and report.orphan_blobs == 1 and report.orphan_keys == [stray]
    assert report.dangling_rows == 1 and report.dangling_images == [lost]
    # A dry run changed nothing; a real run removes the orphan. Only runs that
    # check the rows (dry runs, the command) report the dangling one.
    assert stray in image_keys(live, owner.user_id, "img_strayaaaaaaaaaaaaaaaaaaaaaaa")
    report = run_gc(live, grace=0, dry_run=False)
    assert report.orphan_blobs == 1 and report.dangling_rows == 0
    assert image_keys(live, owner.user_id, "img_strayaaaaaaaaaaaaaaaaaaaaaaa") == []
    assert image_keys(live, owner.user_id, image_id)

    async def count_tombstones(ctx: Any) -> int:
        async with ctx.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(PurgedImage)) or 0)

    assert with_ctx(live.settings, count_tombstones) == 0


def test_purge_removes_the_uploads_that_brought_the_image(
    client: httpx.Client, live: LiveServer
) -> None:
    owner = make_user(client)
    data = image_bytes("PNG", size=(80, 60))
    path = upload_whole(client, owner, data, filename="resumable.png")
    upload_id = path.rsplit("/", 1)[-1]
    image_id = status(client, owner, path)["imageId"]
    wait_processed(client, owner, image_id)
    assert upload_ids(live.settings, image_id=image_id) == [upload_id]
    # As if finishing the upload could not remove its bytes (gc would, later).
    set_row(live.settings, upload_id, cleaned_at=None)

    r = client.delete(f"/v1/images/{image_id}?permanent=true", headers=owner.headers)
    assert r.status_code == 200 and r.json()["purged"] is True
    assert_purged(live, owner, image_id)
    assert upload_ids(live.settings, id=upload_id) == []
    assert all(item.upload_id != upload_id for item in leftovers(live.settings))
    assert_clean(live)


def test_trash_counts_against_the_quota_until_purged(
    client: httpx.Client, live: LiveServer
) -> None:
    owner = make_user(client)

    def usage() -> dict[str, Any]:
        r = client.get("/v1/users/me/usage", headers=owner.headers)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    first = upload_ok(client, owner)["imageId"]
    second = upload_ok(client, owner, data=image_bytes(size=(90, 70)))["imageId"]
    full = usage()
    assert full["images"] == 2
    now = dt.datetime.now(dt.UTC)
    for image_id in (first, second):
        assert client.delete(f"/v1/images/{image_id}", headers=owner.headers).status_code == 200
    assert usage()["images"] == 2 and usage()["storageBytes"] == full["storageBytes"]
    r = client.delete(f"/v1/images/{first}?permanent=true", headers=owner.headers)
    assert r.json()["purged"] is True
    assert usage()["images"] == 1
    assert 0 < usage()["storageBytes"] < full["storageBytes"]
    assert run_sweep(live, now + 31 * DAY).purged == 1
    after = usage()
    assert (after["images"], after["storageBytes"]) == (0, 0)


def test_concurrent_permanent_deletes(client: httpx.Client, live: LiveServer) -> None:
    owner = make_user(client)
    image_id = rich_image(client, owner, "together")
    path = f"/v1/images/{image_id}?permanent=true"
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: client.delete(path, headers=owner.headers), range(4)))
    assert [r.status_code for r in answers] == [200] * 4, [r.text for r in answers]
    assert all(r.json()["purged"] for r in answers)
    assert_purged(live, owner, image_id)
    assert_clean(live)


def test_sweep_takes_in_images_deleted_without_a_trash_entry(
    client: httpx.Client, live: LiveServer
) -> None:
    owner = make_user(client)
    image_id = upload_ok(client, owner)["imageId"]
    # Whole milliseconds: answers write timestamps to the millisecond.
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    async def hide(ctx: Any) -> None:
        # As code that predates the trash would: deleted_at only.
        async with ctx.sessions() as session:
            image = await session.get(Image, image_id)
            image.deleted_at = now
            await session.commit()

    with_ctx(live.settings, hide)
    report = run_sweep(live, now + DAY)
    assert (report.adopted, report.marked, report.purged) == (1, 0, 0)
    item = client.get("/v1/trash", headers=owner.headers).json()["images"][0]
    assert item["imageId"] == image_id
    assert dt.datetime.fromisoformat(item["purgeAt"]) == now + dt.timedelta(
        seconds=live.settings.trash_retention
    )
    report = run_sweep(live, now + 31 * DAY)
    assert (report.adopted, report.marked, report.purged) == (0, 1, 1)
    assert_purged(live, owner, image_id)
