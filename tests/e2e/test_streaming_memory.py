"""A 128 MiB upload must not grow the server's RSS by more than 64 MB, stored
as it is or encrypted at rest (a segment at a time, through a spool file): a
server that held the body, or a part of it per segment, would exceed it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import ENCRYPTED, TEST_ENCRYPTION_KEYS
from tests.e2e.service import ServiceProcess
from tests.factories import image_bytes, make_user

TOTAL = 128 * 1024 * 1024
LIMIT = 64 * 1024 * 1024


class PeakRss:
    """Sample the RSS of a process tree every 20 ms."""

    def __init__(self, pid: int) -> None:
        self.procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        return sum(p.memory_info().rss for p in self.procs if p.is_running())

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.rss())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _body(head: bytes, boundary: str) -> Iterator[bytes]:
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    yield head
    # A valid JPEG followed by trailing bytes: decoders stop at the end marker,
    # so the server stores the whole file as an image.
    chunk = b"\0" * (1024 * 1024)
    remaining = TOTAL - len(head)
    while remaining > 0:
        piece = chunk[: min(len(chunk), remaining)]
        remaining -= len(piece)
        yield piece
    yield f"\r\n--{boundary}--\r\n".encode()


# PostgreSQL + S3 encrypted only: it streams to S3 through the same multipart
# upload as plaintext does, from the encrypted spool file.
@pytest.mark.parametrize(
    "backend", ["sqlite-local", "sqlite-local+encrypted", "postgres-s3+encrypted"]
)
def test_big_upload_streams(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> None:
    # No in-process worker: processing the stored file is not part of what is measured.
    env = {
        "IMGHOST_MAX_FILE_SIZE": "300MB",
        "IMGHOST_MAX_BATCH_SIZE": "300MB",
        "IMGHOST_RUN_WORKER": "false",
    }
    if backend.endswith(ENCRYPTED):
        env["IMGHOST_ENCRYPTION_KEYS"] = TEST_ENCRYPTION_KEYS
    if backend.startswith("postgres-s3"):
        pg = request.getfixturevalue("pg_server")
        s3 = request.getfixturevalue("s3_server")
        from imghost.testing.postgres import psql

        name = "e2e_memory" + ("_encrypted" if backend.endswith(ENCRYPTED) else "")
        psql(pg, f"CREATE DATABASE {name}")
        env["IMGHOST_DATABASE_URL"] = pg.url(name)
        env["IMGHOST_STORAGE_URL"] = s3.storage_url("imghost-test", name.replace("_", "-"))
    with ServiceProcess(tmp_path, env) as service:
        assert service.proc is not None
        with httpx.Client(base_url=service.url, timeout=300) as client:
            user = make_user(client)
            head = image_bytes("JPEG", size=(32, 32))
            # Warm the upload path once so lazy imports are not counted as growth.
            client.post(
                "/v1/images", headers=user.headers, files={"file": ("w.jpg", head, "image/jpeg")}
            )
            with PeakRss(service.proc.pid) as meter:
                baseline = meter.rss()
                r = client.post(
                    "/v1/images",
                    headers={
                        **user.headers,
                        "content-type": "multipart/form-data; boundary=XbOuNdArY",
                    },
                    content=_body(head, "XbOuNdArY"),
                )
            assert r.status_code == 201, r.text
            assert r.json()["size"] == TOTAL
            growth = meter.peak - baseline
            print(
                f"{backend}: RSS growth during a {TOTAL >> 20} MiB upload: {growth / 2**20:.1f} MiB"
            )
            assert growth < LIMIT, f"RSS grew by {growth / 2**20:.1f} MiB"
            got = client.get(
                f"/images/{r.json()['imageId']}", headers={**user.headers, "Range": "bytes=-16"}
            )
            assert got.status_code == 206 and got.content == b"\0" * 16
