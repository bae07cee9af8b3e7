from __future__ import annotations

import os
import time

import anyio
import httpx

from imghost.context import AppContext
from imghost.maintenance.gc import GcReport, collect
from tests.conftest import LiveServer
from tests.factories import make_user, upload_ok
from tests.helpers.context import with_ctx
from tests.integration.tus.helpers import TUS, create, created_path, upload_row


def run_gc(live: LiveServer, grace: int) -> GcReport:
    return with_ctx(live.settings, lambda ctx: collect(ctx.gc, grace=grace))


def blob_exists(live: LiveServer, key: str) -> bool:
    async def head(ctx: AppContext) -> bool:
        return await ctx.store.head(key) is not None

    return with_ctx(live.settings, head)


def put_blob(live: LiveServer, key: str) -> None:
    with_ctx(live.settings, lambda ctx: ctx.store.put_bytes(key, b"orphan"))


def test_gc_removes_only_unreferenced_blobs(client: httpx.Client, live: LiveServer) -> None:
    user = make_user(client)
    kept = upload_ok(client, user)
    deleted = upload_ok(client, user)
    client.delete(f"/v1/images/{deleted['imageId']}", headers=user.headers)
    # A blob whose row never committed (the process died in between).
    orphan = f"{user.user_id}/img_orphan/original"
    put_blob(live, orphan)
    # Young orphans are left alone: their upload may still be committing.
    assert run_gc(live, grace=3600).orphan_blobs == 0
    assert blob_exists(live, orphan)
    time.sleep(1.1)
    report = run_gc(live, grace=1)
    assert report.orphan_blobs == 1 and not blob_exists(live, orphan)
    # Referenced blobs stay, including soft-deleted ones (restore comes later).
    for img in (kept, deleted):
        assert blob_exists(live, f"{user.user_id}/{img['imageId']}/original")
    assert client.get(f"/images/{kept['imageId']}").status_code == 200


def test_gc_sweeps_stale_spool_files(client: httpx.Client, live: LiveServer) -> None:
    async def staging() -> os.PathLike[str]:
        ctx = AppContext.build(live.settings)
        try:
            return ctx.store.staging_dir
        finally:
            await ctx.close()

    directory = anyio.run(staging)
    stale = os.path.join(directory, "upload-stale")
    fresh = os.path.join(directory, "upload-fresh")
    for path in (stale, fresh):
        with open(path, "wb") as fh:
            fh.write(b"x")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    assert run_gc(live, grace=0).staging_files == 1
    assert not os.path.exists(stale) and os.path.exists(fresh)


def test_gc_keeps_the_original_key_of_an_unfinished_tus_upload(
    client: httpx.Client, live: LiveServer
) -> None:
    user = make_user(client)
    path = created_path(create(client, user, 1000))
    reserved = upload_row(live.settings, path.rsplit("/", 1)[-1]).reserved_image_id
    # On S3 the upload's bytes are at its image's key before the image row
    # exists, dated when the multipart upload started.
    key = f"{user.user_id}/{reserved}/original"
    put_blob(live, key)
    time.sleep(1.1)
    assert run_gc(live, grace=1).orphan_blobs == 0
    assert blob_exists(live, key)
    # Once the upload is over, its bytes there are nobody's.
    assert client.delete(path, headers={**TUS, **user.headers}).status_code == 204
    assert run_gc(live, grace=1).orphan_blobs == 1
    assert not blob_exists(live, key)
