"""Data export on both backends: the ZIP holds every original byte for byte and a
JSON of all the user's metadata; one export at a time; the user is notified;
the ZIP expires and is removed; memory stays flat while it is written.

The app runs without its in-process worker, so each test runs the export job
itself, at a moment it chooses."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import tracemalloc
import zipfile
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image

from imghost.context import AppContext
from imghost.exports import tasks
from imghost.settings import Settings
from tests.conftest import LiveServer
from tests.factories import UserHandle, assert_problem, image_bytes, make_user, upload_ok
from tests.helpers.context import with_ctx
from tests.integration.lifecycle.helpers import DAY, keys


@pytest.fixture
def settings(settings_factory: Any) -> Settings:
    return settings_factory(run_worker=False)  # type: ignore[no-any-return]


@pytest.fixture
def live(settings: Settings) -> Iterator[LiveServer]:
    with LiveServer(settings) as server:
        yield server


def start(client: httpx.Client, user: UserHandle) -> str:
    r = client.post("/v1/users/me/export", headers=user.headers)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "pending" and body["downloadUrl"] is None
    return str(body["exportId"])


def run_export(live: LiveServer, export_id: str) -> None:
    with_ctx(live.settings, lambda ctx: tasks.build(ctx.exports, export_id))


def download(client: httpx.Client, user: UserHandle) -> zipfile.ZipFile:
    r = client.get("/v1/users/me/export/download", headers=user.headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(r.content))


def test_export_holds_every_original_and_all_metadata(
    client: httpx.Client, live: LiveServer
) -> None:
    user, other = make_user(client), make_user(client)
    originals = {
        upload_ok(client, user, processed=False, data=data, tags="sea,sun")["imageId"]: data
        for data in (image_bytes("JPEG"), image_bytes("PNG", (30, 20)))
    }
    first = next(iter(originals))
    album = client.post("/v1/albums", headers=user.headers, json={"title": "Trip"}).json()
    r = client.post(
        f"/v1/albums/{album['albumId']}/images", headers=user.headers, json={"imageIds": [first]}
    )
    assert r.status_code == 200, r.text
    r = client.post(
        f"/v1/images/{first}/links", headers=user.headers, json={"password": "long enough pw"}
    )
    assert r.is_success, r.text
    r = client.put(
        f"/v1/images/{first}/collaborators/{other.user_id}",
        headers=user.headers,
        json={"permission": "view"},
    )
    assert r.is_success, r.text
    upload_ok(client, other, processed=False)  # someone else's: not in the export

    assert_problem(client.get("/v1/users/me/export", headers=user.headers), 404, "no_export")
    export_id = start(client, user)
    assert_problem(
        client.get("/v1/users/me/export/download", headers=user.headers), 404, "no_export"
    )
    run_export(live, export_id)

    r = client.get("/v1/users/me/export", headers=user.headers)
    body = r.json()
    assert body["status"] == "ready" and body["images"] == 2
    # A signed link (tests/integration/exports/test_signed_download.py); signed
    # in, the fixed route works as well.
    assert body["downloadUrl"].startswith(f"{live.url}/v1/exports/{export_id}/download?")
    archive = download(client, user)
    assert archive.testzip() is None
    names = set(archive.namelist())
    assert names == {f"originals/{i}.{'jpeg' if i == first else 'png'}" for i in originals} | {
        "metadata.json"
    }
    for image_id, data in originals.items():
        (name,) = [n for n in names if image_id in n]
        assert archive.read(name) == data
    meta = json.loads(archive.read("metadata.json"))
    assert meta["userId"] == user.user_id
    assert {i["id"] for i in meta["images"]} == set(originals)
    assert all(i["tags"] == ["sea", "sun"] for i in meta["images"])
    assert [(a["id"], a["images"]) for a in meta["albums"]] == [(album["albumId"], [first])]
    assert [(s["image_id"], s["user_id"]) for s in meta["shares"]] == [(first, other.user_id)]
    (link,) = meta["links"]
    assert link["image_id"] == first and link["has_password"] is True
    assert "password_hash" not in link
    # The user is told, in the app and by e-mail.
    notes = client.get("/v1/notifications", headers=user.headers).json()
    assert [n["kind"] for n in notes["notifications"]].count("export.ready") == 1
    # The other user has no export, and cannot reach this one.
    assert_problem(client.get("/v1/users/me/export", headers=other.headers), 404, "no_export")
    assert client.get("/v1/users/me/export/download").status_code == 401


def test_one_export_at_a_time(client: httpx.Client, live: LiveServer) -> None:
    user = make_user(client)
    export_id = start(client, user)
    r = client.post("/v1/users/me/export", headers=user.headers)
    assert_problem(r, 409, "export_in_progress")
    run_export(live, export_id)
    run_export(live, export_id)  # a second run of the job changes nothing
    assert client.get("/v1/users/me/export", headers=user.headers).json()["status"] == "ready"
    # Once it is ready, a new one may start; the latest is the one shown.
    second = start(client, user)
    r = client.get("/v1/users/me/export", headers=user.headers)
    assert r.json()["exportId"] == second and r.json()["status"] == "pending"
    # ...while the earlier ZIP stays downloadable.
    assert download(client, user).namelist() == ["metadata.json"]


def test_an_export_expires_and_its_zip_is_removed(client: httpx.Client, live: LiveServer) -> None:
    user = make_user(client)
    upload_ok(client, user, processed=False)
    run_export(live, start(client, user))
    assert len(keys(live, f"exports/{user.user_id}/")) == 1

    def expire(now: dt.datetime) -> int:
        return with_ctx(live.settings, lambda ctx: tasks.expire(ctx.exports, now))

    assert expire(dt.datetime.now(dt.UTC)) == 0
    assert expire(dt.datetime.now(dt.UTC) + 8 * DAY) == 1
    assert keys(live, f"exports/{user.user_id}/") == []
    r = client.get("/v1/users/me/export", headers=user.headers)
    assert r.json()["status"] == "expired" and r.json()["downloadUrl"] is None
    assert_problem(
        client.get("/v1/users/me/export/download", headers=user.headers), 404, "no_export"
    )
    assert expire(dt.datetime.now(dt.UTC) + 8 * DAY) == 0


def test_memory_stays_flat_while_the_zip_is_written(client: httpx.Client, live: LiveServer) -> None:
    user = make_user(client)
    # Noise does not compress: each PNG is ~3 MB.
    sizes = []
    for _ in range(4):
        noise = Image.frombytes("RGB", (1000, 1000), os.urandom(1000 * 1000 * 3))
        buf = io.BytesIO()
        noise.save(buf, "PNG", compress_level=0)
        sizes.append(len(buf.getvalue()))
        upload_ok(client, user, processed=False, data=buf.getvalue(), filename="n.png")
    export_id = start(client, user)

    async def work(ctx: AppContext) -> int:
        tracemalloc.start()
        try:
            await tasks.build(ctx.exports, export_id)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    peak = with_ctx(live.settings, work)
    total = sum(sizes)
    assert total > 11 * 1024 * 1024
    # A few 256 KiB chunks and a page of rows, whatever the account's size: less
    # than one original (reading any one whole would break this).
    assert peak < min(sizes) * 2 // 3, (peak, total)
    assert client.get("/v1/users/me/export", headers=user.headers).json()["size"] > total
