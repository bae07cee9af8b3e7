"""`imghost verify`, the scrub, on both backends: a corrupt original is
reported, admins are told, and with --repair the image becomes `damaged`
(410 to its owner, 404 to others, listed nowhere, not published by a
visibility change); a lost derivative is made again with its recorded hash;
an original restored from a backup lifts the damage on the next run. The
blobs are changed through the BlobStore interface, as an encrypting store
would need. Jobs run when the test says (`work`)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from imghost.cli.commands import cli
from imghost.context import AppContext
from imghost.images.models import ImageVersion
from tests.conftest import LiveServer
from tests.factories import assert_problem, image_bytes, make_user, upload
from tests.helpers.context import with_ctx
from tests.helpers.db import fetch
from tests.helpers.moderation import make_admin
from tests.integration.notifications.helpers import notifications
from tests.integration.processing.test_failures import work


@pytest.fixture
def served(settings_factory: Any) -> Iterator[tuple[LiveServer, httpx.Client]]:
    settings = settings_factory(run_worker=False)
    with LiveServer(settings) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        yield live, client


def verify(live: LiveServer, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    for name in ("database_url", "storage_url", "secret_key", "tmp_dir"):
        monkeypatch.setenv(f"IMGHOST_{name.upper()}", str(getattr(live.settings, name)))
    return CliRunner().invoke(cli, ["verify", *args])


def put(live: LiveServer, key: str, data: bytes) -> None:
    async def main(ctx: AppContext) -> None:
        await ctx.store.put_bytes(key, data)

    with_ctx(live.settings, main)


def drop(live: LiveServer, key: str) -> None:
    async def main(ctx: AppContext) -> None:
        await ctx.store.delete(key)

    with_ctx(live.settings, main)


def blob(live: LiveServer, key: str) -> bytes:
    async def main(ctx: AppContext) -> bytes:
        return await ctx.store.read_all(key)

    return with_ctx(live.settings, main)


def test_scrub_reports_repairs_and_lifts_damage(
    served: tuple[LiveServer, httpx.Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    live, client = served
    owner = make_user(client)
    admin = make_admin(client, live.settings)
    original = image_bytes(color=(10, 120, 200))
    lost = upload(client, owner, data=original, visibility="public", tags="scrub").json()
    kept = upload(client, owner, data=image_bytes(), visibility="public", tags="scrub").json()
    lost_id, kept_id = lost["imageId"], kept["imageId"]
    assert work(live) == 2
    key = f"{owner.user_id}/{lost_id}/original"
    (row,) = fetch(
        live.settings,
        select(ImageVersion.blob_key, ImageVersion.sha256).where(
            ImageVersion.image_id == kept_id,
            ImageVersion.name == "thumb",
            ImageVersion.format == "jpeg",
        ),
    )
    thumb_key, thumb_sha = row.blob_key, row.sha256

    # An original rots (same length, one byte changed); a derivative is lost.
    put(live, key, original[:-3] + bytes([original[-3] ^ 0xFF]) + original[-2:])
    drop(live, thumb_key)

    # Without --repair: reported only, the damaged bytes still served as they are.
    result = verify(live, monkeypatch)
    assert result.exit_code == 0 and "2 images queued" in result.output, result.output
    run = result.output.split("integrity check ", 1)[1].split(":", 1)[0]
    # Two verify_image jobs, the process_image that re-renders, the admin's e-mail.
    assert work(live) == 4
    report = verify(live, monkeypatch, "--report", run)
    assert report.exit_code == 1, report.output
    assert "2 of 2 images verified" in report.output
    assert f"{lost_id} original corrupt (reported)" in report.output
    assert "preset missing (rerender)" in report.output
    assert client.get(f"/v1/images/{lost_id}", headers=owner.headers).json()["status"] == "ready"
    # The thumbnail is back, with the bytes its record names.
    assert hashlib.sha256(blob(live, thumb_key)).hexdigest() == thumb_sha
    # Admins hear of it once per run.
    (note,) = [
        n for n in notifications(client, admin)["notifications"] if n["kind"] == "integrity.damaged"
    ]
    assert note["data"] == {"runId": run, "imageId": lost_id, "problem": "corrupt"}

    # With --repair the image is damaged: served to nobody, listed nowhere.
    result = verify(live, monkeypatch, "--repair")
    assert result.exit_code == 0, result.output
    assert work(live) == 3  # and a new run's e-mail to the admin
    body = client.get(f"/v1/images/{lost_id}", headers=owner.headers).json()
    assert body["status"] == "damaged" and body["versions"] == []
    assert body["processing"]["code"] == "damaged"
    assert_problem(client.get(f"/images/{lost_id}", headers=owner.headers), 410, "damaged")
    assert_problem(
        client.get(f"/images/{lost_id}/thumb.jpg", headers=owner.headers), 410, "damaged"
    )
    assert client.get(f"/images/{lost_id}").status_code == 404
    assert client.get(f"/v1/images/{lost_id}").status_code == 404
    r = client.patch(f"/v1/images/{lost_id}", headers=owner.headers, json={"visibility": "public"})
    assert r.status_code == 200, r.text
    listed = client.get("/v1/images", params={"tag": "scrub"}).json()
    assert [i["imageId"] for i in listed["images"]] == [kept_id]
    # The owner still sees it in their own listing, with its status.
    mine = client.get(f"/v1/users/{owner.user_id}/images", headers=owner.headers).json()
    assert {i["imageId"] for i in mine["images"]} == {lost_id, kept_id}

    # The operator restores the blob from a backup: the next repair run lifts it.
    put(live, key, original)
    assert verify(live, monkeypatch, "--repair", "--since", "2000-01-01").exit_code == 0
    assert work(live) == 2
    assert client.get(f"/v1/images/{lost_id}", headers=owner.headers).json()["status"] == "ready"
    assert client.get(f"/images/{lost_id}").content == original
    report = verify(live, monkeypatch, "--report")
    assert report.exit_code == 0 and "(restored)" in report.output, report.output


def test_a_sample_verifies_that_many(
    served: tuple[LiveServer, httpx.Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    live, client = served
    owner = make_user(client)
    for _ in range(3):
        upload(client, owner)
    assert work(live) == 3
    result = verify(live, monkeypatch, "--sample", "2")
    assert "2 images queued" in result.output, result.output
    assert work(live) == 2
    assert "2 of 2 images verified" in verify(live, monkeypatch, "--report").output
    assert "0 images queued" in verify(live, monkeypatch, "--fraction", "0").output
