"""Upgrades without downtime: the previous release's API serves while this
release migrates the database, then both serve side by side on it.

The previous release is the commit named in tests/upgrade/PREVIOUS_RELEASE
(docs/OPERATIONS.md says when it moves); its ``src/`` is exported with
``git archive`` and run from the same virtualenv with PYTHONPATH pointing at
it. The static half of the rule (migrations only expand) is
tests/unit/test_migrations.py.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

import imghost
from imghost.testing.postgres import PostgresServer, psql
from imghost.testing.servers import S3Server
from tests.conftest import TEST_RATE_LIMITS
from tests.e2e.service import BIN, ServiceProcess
from tests.factories import UserHandle, make_user, upload

pytestmark = pytest.mark.postgres_s3

ROOT = Path(__file__).resolve().parents[2]
PREVIOUS_RELEASE = ROOT / "tests" / "upgrade" / "PREVIOUS_RELEASE"
NEW_SRC = Path(imghost.__file__).resolve().parents[1]
SECRET = "upgrade-test-secret-key-long-enough-for-production"


def previous_release() -> str:
    return PREVIOUS_RELEASE.read_text().strip()


def export_src(commit: str, into: Path) -> Path:
    """The commit's ``src/`` under ``into``; fails clearly without the history."""
    found = subprocess.run(
        ["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=ROOT, capture_output=True
    )
    if found.returncode != 0:
        pytest.fail(
            f"the previous release {commit} (tests/upgrade/PREVIOUS_RELEASE) is not in this "
            "clone: the upgrade test needs the history (git fetch --unshallow, or a full clone)"
        )
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit, "src"], cwd=ROOT, capture_output=True, check=True
    )
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def migrate(src: Path, database_url: str) -> None:
    """``imghost migrate`` of the release whose sources are ``src``."""
    env = {
        **os.environ,
        "PYTHONPATH": str(src),
        "IMGHOST_DATABASE_URL": database_url,
        "IMGHOST_SECRET_KEY": SECRET,
    }
    result = subprocess.run(
        [str(BIN / "imghost"), "migrate"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def runs_from(src: Path) -> str:
    """Where the imghost package comes from with PYTHONPATH=src (the check that
    the old release really is the one running)."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    code = "import imghost; print(imghost.__file__)"
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def database(pg_server: PostgresServer) -> Iterator[str]:
    """An empty database (not the suite's migrated template)."""
    name = f"upgrade_{uuid.uuid4().hex[:10]}"
    psql(pg_server, f"CREATE DATABASE {name}")
    yield pg_server.url(name)
    psql(pg_server, f"DROP DATABASE {name} WITH (FORCE)")


def png(i: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64 + i % 50, 48), (i * 7 % 255, 90, 40)).save(buf, "PNG")
    return buf.getvalue()


MAX_UPLOADS = 30


class Traffic:
    """Uploads, views and listings against one API in a thread of its own, for
    ``rounds`` rounds or until the block ends (at least one round); every
    answer's status is kept (a 5xx, or a failed exchange, fails the test)."""

    def __init__(self, url: str, user: UserHandle, rounds: int | None = None) -> None:
        self.client = httpx.Client(base_url=url, timeout=30)
        self.user = user
        self.rounds = rounds
        self.statuses: list[int] = []
        self.errors: list[str] = []
        self.uploaded: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def round(self) -> None:
        """One upload (up to MAX_UPLOADS: a listing's page holds them all), a
        view of its metadata and bytes, and a listing."""
        headers = self.user.headers
        if len(self.uploaded) < MAX_UPLOADS:
            r = upload(self.client, self.user, data=png(len(self.uploaded)))
            self.statuses.append(r.status_code)
            if r.status_code == 201:
                self.uploaded.append(r.json()["imageId"])
        if self.uploaded:
            image_id = self.uploaded[-1]
            for path in (f"/v1/images/{image_id}", f"/images/{image_id}"):
                self.statuses.append(self.client.get(path, headers=headers).status_code)
        r = self.client.get(f"/v1/users/{self.user.user_id}/images", headers=headers)
        self.statuses.append(r.status_code)

    def _run(self) -> None:
        done = 0
        while done == 0 or not self._stop.is_set():
            if self.rounds is not None and done >= self.rounds:
                return
            try:
                self.round()
            except httpx.HTTPError as exc:
                self.errors.append(repr(exc))
            done += 1

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.rounds is None:
            self._stop.set()
        self._thread.join(60)
        self.client.close()

    def check(self) -> None:
        assert not self.errors, self.errors
        assert self.statuses and all(s < 500 for s in self.statuses), self.statuses


def test_the_previous_release_serves_during_the_migration_and_beside_the_new_one(
    tmp_path: Path, database: str, s3_server: S3Server
) -> None:
    old_src = export_src(previous_release(), tmp_path / "previous")
    assert runs_from(old_src).startswith(str(old_src))
    migrate(old_src, database)  # the database as the previous release left it
    env = {
        "IMGHOST_DATABASE_URL": database,
        "IMGHOST_STORAGE_URL": s3_server.storage_url("imghost-test", database.rsplit("/", 1)[1]),
        "IMGHOST_SECRET_KEY": SECRET,
        "IMGHOST_AUTO_MIGRATE": "false",  # migrations are the operator's step
        "IMGHOST_RATE_LIMITS_FREE": TEST_RATE_LIMITS,
    }
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    with (
        ServiceProcess(tmp_path / "old", {**env, "PYTHONPATH": str(old_src)}) as old,
        httpx.Client(base_url=old.url, timeout=30) as old_client,
    ):
        user = make_user(old_client)
        with Traffic(old.url, user) as during:
            # The new release's migrations, with the previous release serving.
            migrate(NEW_SRC, database)
        during.check()
        with (
            ServiceProcess(tmp_path / "new", {**env, "PYTHONPATH": str(NEW_SRC)}) as new,
            httpx.Client(base_url=new.url, timeout=30) as new_client,
        ):
            with (
                Traffic(old.url, user, rounds=3) as old_traffic,
                Traffic(new.url, user, rounds=3) as new_traffic,
            ):
                pass  # both at once
            old_traffic.check()
            new_traffic.check()
            # What each wrote, the other reads: metadata, bytes and listings.
            for client, ids in (
                (new_client, during.uploaded + old_traffic.uploaded),
                (old_client, new_traffic.uploaded),
            ):
                listed = client.get(
                    f"/v1/users/{user.user_id}/images", headers=user.headers, params={"limit": 100}
                ).json()
                listed_ids = {item["imageId"] for item in listed["images"]}
                for image_id in ids:
                    meta = client.get(f"/v1/images/{image_id}", headers=user.headers)
                    assert meta.status_code == 200, meta.text
                    blob = client.get(f"/images/{image_id}", headers=user.headers)
                    assert blob.status_code == 200 and blob.content.startswith(b"\x89PNG")
                    assert image_id in listed_ids
            # A user of the new release signs in on the previous one.
            newcomer = make_user(new_client)
            r = old_client.get(f"/v1/users/{newcomer.user_id}/images", headers=newcomer.headers)
            assert r.status_code == 200, r.text
