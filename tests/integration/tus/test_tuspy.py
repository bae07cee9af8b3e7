"""tuspy, the official Python tus client, against imghost: a 50+ MB image in
5 MB chunks, the connection cut mid-upload, resumed to a byte-identical image."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tusclient.client import TusClient

from imghost.settings import Settings
from imghost.testing.proxy import CuttingProxy
from tests.conftest import BACKENDS_AND_ENCRYPTED, LiveServer, backend_fixture
from tests.factories import make_user
from tests.integration.tus.helpers import noise_png

MB = 1_000_000

# Encrypted on S3 too: S3 parts of whole segments, resumed.
backend = backend_fixture(BACKENDS_AND_ENCRYPTED)


@pytest.fixture
def roomy_live(settings_factory: Any) -> Iterator[LiveServer]:
    settings: Settings = settings_factory(max_file_size=120 * MB, max_batch_size=200 * MB)
    with LiveServer(settings) as server:
        yield server


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@pytest.mark.slow
def test_tuspy_resumes_a_big_upload_after_the_connection_is_cut(
    roomy_live: LiveServer, tmp_path: Path
) -> None:
    source = tmp_path / "big.png"
    source.write_bytes(noise_png(4200, 4200))
    size = source.stat().st_size
    assert size >= 50 * MB
    with httpx.Client(base_url=roomy_live.url, timeout=120) as client:
        user = make_user(client)
        # Our own stream: given a path, tuspy opens the file per request and
        # never closes it.
        with (
            CuttingProxy(roomy_live.port, cut_after=23 * MB) as proxy,
            open(source, "rb") as stream,
        ):
            tus = TusClient(f"{proxy.url}/v1/tus/", headers=user.headers)
            uploader = tus.uploader(
                file_stream=stream,
                chunk_size=5 * 1024 * 1024,
                retries=5,
                # A second for the cut connection's lease to lapse (at once: 423 Locked).
                retry_delay=1,
                metadata={"filename": "big.png", "title": "Big one"},
            )
            uploader.upload()
            assert proxy.cuts == 1
            # tuspy asked where to resume, then went on from there.
            assert b"HEAD /v1/tus/" in proxy.after_cut
        assert uploader.url is not None
        upload_id = uploader.url.rstrip("/").rsplit("/", 1)[-1]
        info = client.get(f"/v1/uploads/{upload_id}", headers=user.headers).json()
        assert info["status"] == "completed", info
        assert info["offset"] == info["length"] == size
        digest = hashlib.sha256()
        with client.stream("GET", f"/images/{info['imageId']}", headers=user.headers) as r:
            assert r.status_code == 200
            for chunk in r.iter_bytes():
                digest.update(chunk)
        assert digest.hexdigest() == sha256_file(source)
        image = client.get(f"/v1/images/{info['imageId']}", headers=user.headers).json()
        assert image["title"] == "Big one"
        assert image["size"] == size
