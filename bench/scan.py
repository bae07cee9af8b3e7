"""The scan section: what ClamAV scanning costs.

1. Per MB: the stored original streamed to clamd (`INSTREAM`, the client the
   processing job uses) for JPEGs of a few sizes, median of ``runs``; the built-in
   structural scan of the same files is the peer measured in the same run.
2. Share of upload to ready: the same JPEGs uploaded to a real `imghost serve`
   (SQLite + local files, in-process worker) with and without
   IMGHOST_CLAMD_ADDRESS, the time from the upload's start to `ready` as the owner
   polls it; the difference against the clamd time above.

clamd runs with the tests' tiny signature database (`imghost.testing.clamd`: no
network here for freshclam). Its matcher costs per byte, not per signature, but a
production database (millions of signatures, bytecode) adds engine work per file:
take the per-MB figure as the floor and measure again with real signatures.
"""

from __future__ import annotations

import secrets
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import service
from bench.fixtures import make_jpeg
from imghost.imaging.clamd import ClamdScanner
from imghost.imaging.scan import StructuralScanner
from imghost.testing.clamd import start_clamd

# (bytes, width, height) of each fixture: a phone photo, a camera JPEG, a large one.
SIZES = ((1_000_000, 1600, 1200), (5_000_000, 3200, 2400), (20_000_000, 6000, 4500))


@dataclass
class ScanRow:
    size: int
    clamd_ms: float
    structural_ms: float
    ready_ms: float | None = None  # upload → ready with clamd
    ready_without_ms: float | None = None  # the same without

    @property
    def clamd_ms_per_mb(self) -> float:
        return self.clamd_ms / (self.size / 1_000_000)

    @property
    def share(self) -> float | None:
        """clamd's part of upload → ready."""
        return None if not self.ready_ms else self.clamd_ms / self.ready_ms

    def as_json(self) -> dict[str, Any]:
        return {
            "bytes": self.size,
            "clamd_ms": round(self.clamd_ms, 2),
            "clamd_ms_per_mb": round(self.clamd_ms_per_mb, 2),
            "structural_ms": round(self.structural_ms, 2),
            "upload_to_ready_ms": self.ready_ms and round(self.ready_ms, 1),
            "upload_to_ready_without_clamd_ms": self.ready_without_ms
            and round(self.ready_without_ms, 1),
            "clamd_share_of_upload_to_ready": self.share and round(self.share, 4),
        }


@dataclass
class ScanResult:
    rows: list[ScanRow] = field(default_factory=list)
    clamd_version: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.rows)

    def as_json(self) -> dict[str, Any]:
        return {
            "clamd": self.clamd_version,
            "rows": [r.as_json() for r in self.rows],
            "errors": self.errors,
        }


def _median_ms(runs: int, fn: Any) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def _unique(data: bytes) -> bytes:
    """The JPEG with a comment segment of fresh bytes after SOI: an upload of the
    same bytes is answered with the owner's existing image (no processing)."""
    token = secrets.token_bytes(16)
    return data[:2] + b"\xff\xfe" + (len(token) + 2).to_bytes(2, "big") + token + data[2:]


def _upload_to_ready(base_url: str, data: bytes, runs: int) -> float:
    with httpx.Client(base_url=base_url, timeout=120) as client:
        token = service.sign_in(client)
        client.headers["Authorization"] = f"Bearer {token}"
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            r = service.expect(
                client.post("/v1/images", files={"file": ("b.jpg", _unique(data), "image/jpeg")}),
                201,
                "upload",
            )
            image_id = r.json()["imageId"]
            while (status := client.get(f"/v1/images/{image_id}").json()["status"]) == "processing":
                time.sleep(0.005)
            if status != "ready":
                raise service.ServiceError(f"{image_id} ended {status}")
            samples.append((time.perf_counter() - start) * 1000)
        return statistics.median(samples)


def run(runs: int = 5, end_to_end: bool = True) -> ScanResult:
    result = ScanResult()
    clamd = start_clamd(stream_max=64 * 1024 * 1024)
    try:
        scanner = ClamdScanner(clamd.unix_address, timeout=60)
        result.clamd_version = scanner.version()
        structural = StructuralScanner(decode=False)
        with tempfile.TemporaryDirectory(prefix="imghost-bench-scan-") as tmp:
            root = Path(tmp)
            fixtures = []
            for size, width, height in SIZES:
                data = make_jpeg(size, width, height).data
                path = root / f"{size}.jpg"
                path.write_bytes(data)
                fixtures.append((data, path))
                scanner.scan(path, "jpeg")  # warm
                result.rows.append(
                    ScanRow(
                        size=len(data),
                        clamd_ms=_median_ms(runs, lambda p=path: scanner.scan(p, "jpeg")),
                        structural_ms=_median_ms(runs, lambda p=path: structural.scan(p, "jpeg")),
                    )
                )
            if end_to_end:
                for label, settings in (
                    ("with", {"IMGHOST_CLAMD_ADDRESS": clamd.unix_address}),
                    ("without", {}),
                ):
                    work = root / label
                    work.mkdir()
                    try:
                        with service.running(
                            database_url=f"sqlite+aiosqlite:///{work / 'db.sqlite'}",
                            storage_url=f"file://{work / 'blobs'}",
                            workdir=work,
                            workers=1,
                            run_worker=True,
                            settings={"IMGHOST_MAX_FILE_SIZE": "64000000", **settings},
                        ) as svc:
                            for row, (data, _) in zip(result.rows, fixtures, strict=True):
                                ms = _upload_to_ready(svc.base_url, data, runs)
                                if label == "with":
                                    row.ready_ms = ms
                                else:
                                    row.ready_without_ms = ms
                    except Exception as exc:  # recorded; the per-MB figures stand
                        result.errors[f"upload_to_ready_{label}"] = f"{type(exc).__name__}: {exc}"
    finally:
        clamd.close()
    return result


def print_section(console: Any, result: ScanResult) -> None:
    from rich.table import Table

    table = Table(
        "file",
        "clamd ms",
        "clamd ms/MB",
        "structural ms (peer)",
        "upload→ready ms (clamd)",
        "upload→ready ms (none)",
        "clamd share",
    )
    for row in result.rows:
        table.add_row(
            f"{row.size / 1e6:.1f} MB JPEG",
            f"{row.clamd_ms:.1f}",
            f"{row.clamd_ms_per_mb:.2f}",
            f"{row.structural_ms:.1f}",
            "—" if row.ready_ms is None else f"{row.ready_ms:.0f}",
            "—" if row.ready_without_ms is None else f"{row.ready_without_ms:.0f}",
            "—" if row.share is None else f"{row.share:.1%}",
        )
    console.print(table)
    for name, error in result.errors.items():
        console.print(f"[red]{name}: {error}[/red]")
