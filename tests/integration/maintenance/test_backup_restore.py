"""The restore drill, on both backends: a populated service (images with
their derivatives, a share link, quota usage) is backed up while it serves
(`imghost backup`: SQLite's online backup API, or pg_dump), its blobs copied
after the database (through the BlobStore interface: any store, encrypting
or not), restored into an empty directory or a fresh PostgreSQL database and
S3 prefix, and served again: every image, derivative, link and quota figure
is identical."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from imghost.cli.commands import cli
from imghost.context import AppContext
from imghost.maintenance.backup import libpq_url
from imghost.settings import Settings
from imghost.testing.postgres import psql
from tests.conftest import LiveServer
from tests.factories import UserHandle, image_bytes, make_user, upload
from tests.helpers.context import with_ctx
from tests.integration.processing.test_failures import work


def snapshot(client: httpx.Client, owner: UserHandle, ids: list[str], link: str) -> dict[str, Any]:
    """What a client sees: each image's record, its original's and every
    version's bytes, the share link's view, the owner's usage. URLs without
    the server's address (the restored one listens elsewhere)."""
    base = str(client.base_url).rstrip("/")
    seen: dict[str, Any] = {}
    for image_id in ids:
        record = client.get(f"/v1/images/{image_id}", headers=owner.headers).json()
        files = {
            v["url"].removeprefix(base): client.get(v["url"], headers=owner.headers).content
            for v in record["versions"]
        }
        assert len(files) > 2  # the original and the presets
        seen[image_id] = (str(record).replace(base, ""), files)
    opened = client.post(f"/v1/links/{link}/open").json()
    shared = client.get(f"/images/{ids[0]}", params={"share": opened["token"]})
    assert shared.status_code == 200
    # The grant minted at each opening carries its own expiry: not compared.
    target = str(opened["image"]).replace(base, "").replace(opened["token"], "TOKEN")
    seen["link"] = (target, shared.content)
    seen["usage"] = client.get("/v1/users/me/usage", headers=owner.headers).json()
    return seen


def copy_blobs(source: Settings, target: Settings) -> int:
    """Every blob of ``source``'s store into ``target``'s, key for key."""

    async def main(ctx: AppContext) -> int:
        into = AppContext.build(target)
        count = 0
        try:
            async for meta in ctx.store.list():
                await into.store.put_bytes(meta.key, await ctx.store.read_all(meta.key))
                count += 1
        finally:
            await into.close()
        return count

    return with_ctx(source, main)


def backup(settings: Settings, dest: Path) -> None:
    env = {
        "IMGHOST_DATABASE_URL": settings.database_url,
        "IMGHOST_STORAGE_URL": settings.storage_url,
        "IMGHOST_SECRET_KEY": settings.secret_key,
    }
    result = CliRunner().invoke(cli, ["backup", str(dest)], env=env)
    assert result.exit_code == 0, result.output
    assert "after the database" in result.output


def restored_place(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, dump: Path
) -> dict[str, str]:
    """An empty place with the backup restored in it: a new directory, or a
    new PostgreSQL database and S3 prefix."""
    if backend == "sqlite-local":
        home = tmp_path / "restored"
        home.mkdir()
        (home / "imghost.db").write_bytes(dump.read_bytes())
        return {
            "database_url": f"sqlite+aiosqlite:///{home / 'imghost.db'}",
            "storage_url": f"file://{home / 'blobs'}",
        }
    databases = request.getfixturevalue("pg_databases")
    name = f"restored_{uuid.uuid4().hex[:12]}"
    psql(databases.server, f"CREATE DATABASE {name}")
    request.addfinalizer(lambda: databases.give_back(name))
    url = databases.server.url(name)
    subprocess.run(
        ["pg_restore", "--no-owner", f"--dbname={libpq_url(url)}", str(dump)], check=True
    )
    s3 = request.getfixturevalue("s3_server")
    return {"database_url": url, "storage_url": s3.storage_url("imghost-test", name)}


def test_backup_and_restore_keep_everything(
    settings_factory: Any, backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    settings = settings_factory(run_worker=False)
    with LiveServer(settings) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        owner = make_user(client)
        ids = [
            upload(client, owner, data=image_bytes(color=(i * 60, 90, 30)), tags="drill").json()[
                "imageId"
            ]
            for i in range(2)
        ]
        assert work(live) == 2
        r = client.post(f"/v1/images/{ids[0]}/links", headers=owner.headers, json={})
        assert r.status_code == 201, r.text
        link = r.json()["linkId"]
        before = snapshot(client, owner, ids, link)
        # Database first, then blobs, while the service is up.
        dump = tmp_path / "imghost.backup"
        backup(live.settings, dump)
        place = restored_place(backend, request, tmp_path, dump)
        assert copy_blobs(live.settings, settings_factory(**place)) > 10

    restored = settings_factory(run_worker=False, **place)
    with LiveServer(restored) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        after = snapshot(client, owner, ids, link)
    for key in (*ids, "link", "usage"):
        assert after[key] == before[key], key
