"""`versions` of `GET /v1/images/{id}` and the `image_versions` rows behind
them, on both backends: what processing records, who sees which version,
that every URL serves exactly what its entry says, and that purge removes
the rows."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import httpx
from PIL import Image
from sqlalchemy import select, update

from imghost.context import AppContext
from imghost.images.models import ImageVersion
from imghost.processing import tasks as processing_tasks
from tests.conftest import LiveServer
from tests.factories import UserHandle, assert_problem, image_bytes, make_user, upload_ok
from tests.helpers.context import with_ctx
from tests.helpers.db import fetch, run_sql

PRESETS = {"thumb", "small", "medium", "large"}


def gps_jpeg(size: tuple[int, int] = (300, 200)) -> bytes:
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (43.0, 28.0, 1.0), 3: "E", 4: (11.0, 53.0, 6.0)}
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 40)).save(out, "JPEG", exif=exif)
    return out.getvalue()


def versions(
    client: httpx.Client, image_id: str, user: UserHandle | None = None, **params: str
) -> list[dict[str, Any]]:
    r = client.get(f"/v1/images/{image_id}", headers=user.headers if user else {}, params=params)
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["versions"]
    return found


def check_served(
    client: httpx.Client, entry: dict[str, Any], headers: dict[str, str] | None = None
) -> bytes:
    """The bytes at the entry's URL are what the entry says they are."""
    r = client.get(entry["url"], headers=headers or {})
    assert r.status_code == 200, (entry, r.text)
    assert len(r.content) == entry["size"], entry
    with Image.open(io.BytesIO(r.content)) as img:
        assert img.size == (entry["width"], entry["height"]), entry
        assert img.format is not None and img.format.lower() == entry["format"], entry
    return r.content


def stored(live: LiveServer, image_id: str) -> list[ImageVersion]:
    return [
        row[0]
        for row in fetch(
            live.settings, select(ImageVersion).where(ImageVersion.image_id == image_id)
        )
    ]


def test_versions_after_processing(client: httpx.Client, live: LiveServer) -> None:
    owner = make_user(client)
    img = upload_ok(client, owner, data=image_bytes("PNG", size=(1200, 600)))
    image_id = img["imageId"]
    found = versions(client, image_id, owner)
    assert len(found) == 1 + 8
    original, presets = found[0], found[1:]
    assert original == {
        "kind": "original",
        "name": "original",
        "format": "png",
        "width": 1200,
        "height": 600,
        "size": img["size"],
        "url": f"{live.url}/images/{image_id}",
    }
    assert {p["kind"] for p in presets} == {"preset"}
    assert {(p["name"], p["format"]) for p in presets} == {
        (name, fmt) for name in PRESETS for fmt in ("jpeg", "webp")
    }
    widths = [p["width"] for p in presets]
    assert widths == sorted(widths), "smallest first, ready for srcset"
    sizes = {(p["name"], p["format"]): (p["width"], p["height"]) for p in presets}
    assert sizes[("thumb", "jpeg")] == (256, 256)
    assert sizes[("small", "webp")] == (320, 160)
    assert sizes[("medium", "jpeg")] == (1024, 512)
    assert sizes[("large", "jpeg")] == (1200, 600)  # never upscaled
    for entry in found:
        check_served(client, entry, owner.headers)

    # The rows: every version with its key and the hash of the stored bytes.
    rows = {row.name + "." + row.format: row for row in stored(live, image_id)}
    assert len(rows) == 9
    assert rows["original.png"].kind == "original"
    assert rows["original.png"].sha256 == hashlib.sha256(image_bytes_of(client, img)).hexdigest()
    for entry in presets:
        row = rows[f"{entry['name']}.{entry['format']}"]
        data = client.get(entry["url"]).content
        assert row.sha256 == hashlib.sha256(data).hexdigest()
        assert row.blob_key.startswith(f"{owner.user_id}/{image_id}/derived/")
        assert row.last_used_at is not None and row.created_at is not None

    # Listings stay light: no versions there.
    listing = client.get(f"/v1/users/{owner.user_id}/images").json()
    assert "versions" not in listing["images"][0]


def image_bytes_of(client: httpx.Client, img: dict[str, Any]) -> bytes:
    return client.get(f"/images/{img['imageId']}").content


def test_before_processing_only_the_original(client: httpx.Client, live: LiveServer) -> None:
    owner = make_user(client)
    img = upload_ok(client, owner, processed=False)
    # Whether or not the job has run yet, the original is there from the upload.
    found = versions(client, img["imageId"], owner)
    assert found[0]["kind"] == "original" and found[0]["size"] == img["size"]
    assert {r.kind for r in stored(live, img["imageId"])} <= {"original", "preset"}


def test_anonymous_and_gps(client: httpx.Client, live: LiveServer) -> None:
    owner = make_user(client)
    data = gps_jpeg()
    img = upload_ok(client, owner, data=data, filename="gps.jpg", visibility="public")
    image_id = img["imageId"]

    mine = versions(client, image_id, owner)
    theirs = versions(client, image_id)
    assert len(mine) == len(theirs) == 9
    # The owner's original is the upload itself; everyone else's is the GPS-free copy.
    assert check_served(client, mine[0], owner.headers) == data
    public = check_served(client, theirs[0])
    assert public != data and theirs[0]["size"] == len(public)
    assert mine[1:] == theirs[1:]
    for entry in theirs[1:]:
        check_served(client, entry)
    kinds = sorted(row.kind for row in stored(live, image_id))
    assert kinds == ["gps_free", "original"] + ["preset"] * 8

    # An owner who keeps GPS serves the upload to everyone: no copy, no row.
    kept = upload_ok(client, owner, data=data, filename="gps.jpg", keepGps="true")
    assert versions(client, kept["imageId"])[0]["size"] == len(data)
    assert "gps_free" not in {row.kind for row in stored(live, kept["imageId"])}


def test_private_image_through_links(client: httpx.Client) -> None:
    owner = make_user(client)
    image_id = upload_ok(client, owner, visibility="private")["imageId"]
    assert_problem(client.get(f"/v1/images/{image_id}"), 403, "forbidden")

    def grant(permissions: list[str]) -> str:
        r = client.post(
            f"/v1/images/{image_id}/links",
            headers=owner.headers,
            json={"permissions": permissions},
        )
        assert r.status_code == 201, r.text
        opened = client.post(f"/v1/links/{r.json()['linkId']}/open", json={})
        assert opened.status_code == 200, opened.text
        token: str = opened.json()["token"]
        return token

    # A view link: the presets, each URL carrying the grant; not the original.
    viewer = grant(["view"])
    found = versions(client, image_id, share=viewer)
    assert [v["kind"] for v in found] == ["preset"] * 8
    for entry in found:
        assert httpx.URL(entry["url"]).params["share"] == viewer
        check_served(client, entry)
    assert_problem(client.get(found[0]["url"].split("?")[0]), 403, "forbidden")

    # A download link: the original too.
    downloader = grant(["view", "download"])
    found = versions(client, image_id, share=downloader)
    assert found[0]["kind"] == "original" and len(found) == 9
    assert httpx.URL(found[0]["url"]).params["share"] == downloader
    check_served(client, found[0])

    # A stranger signed in sees nothing more than anyone else.
    stranger = make_user(client)
    assert_problem(client.get(f"/v1/images/{image_id}", headers=stranger.headers), 403, "forbidden")


def test_quarantined_image_has_no_versions(client: httpx.Client) -> None:
    owner = make_user(client)
    data = image_bytes("JPEG", size=(64, 64)) + b"<?php system($_GET['c']); ?>" + b" " * 2048
    img = upload_ok(client, owner, data=data)
    assert img["status"] == "quarantined"
    assert versions(client, img["imageId"], owner) == []


def test_purge_removes_the_rows(client: httpx.Client, live: LiveServer) -> None:
    owner = make_user(client)
    image_id = upload_ok(client, owner)["imageId"]
    assert len(stored(live, image_id)) == 9
    r = client.delete(f"/v1/images/{image_id}?permanent=true", headers=owner.headers)
    assert r.status_code == 200, r.text
    assert stored(live, image_id) == []


def test_versions_stored_before_0014_are_measured(client: httpx.Client, live: LiveServer) -> None:
    """What migration 0014 leaves for existing presets (no hash, no dimensions,
    perhaps no size) is filled in by the maintenance step from the blobs, and
    a row whose blob is not there is dropped."""
    owner = make_user(client)
    image_id = upload_ok(client, owner, data=image_bytes("JPEG", size=(900, 600)))["imageId"]
    before = {row.blob_key: row for row in stored(live, image_id)}
    presets = ImageVersion.image_id == image_id, ImageVersion.kind == "preset"
    run_sql(
        live.settings,
        update(ImageVersion).where(*presets).values(width=None, height=None, sha256=None, size=0),
    )
    # Not measured yet: listed once they are.
    assert [v["kind"] for v in versions(client, image_id, owner)] == ["original"]
    gone = next(key for key, row in before.items() if row.name == "thumb" and row.format == "webp")

    async def measure(ctx: AppContext) -> int:
        await ctx.store.delete(gone)
        return await processing_tasks.measure_versions(ctx.processing)

    assert with_ctx(live.settings, measure) == 7
    after = {row.blob_key: row for row in stored(live, image_id)}
    assert set(after) == set(before) - {gone}
    for key, row in after.items():
        old = before[key]
        assert (row.width, row.height, row.size, row.sha256) == (
            old.width,
            old.height,
            old.size,
            old.sha256,
        )
    assert len(versions(client, image_id, owner)) == 1 + 7
    assert (
        with_ctx(live.settings, lambda ctx: processing_tasks.measure_versions(ctx.processing)) == 0
    )
