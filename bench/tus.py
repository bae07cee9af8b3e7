"""The tus section: resumable uploads against a streamed direct upload and dd.

Per backend combination, one `imghost serve` (one API process, no in-process
worker, so nothing else runs in it) with the size limits raised to 2 GiB:

1. Memory: a 1 GiB tus upload of random bytes in 32 MiB PATCHes while the API
   process's RSS is sampled. The bytes are no image, so the last PATCH is
   refused at validation (4xx): the figure covers receiving, storing,
   assembling and sniffing all of it, not decoding.
2. Throughput: the same ~200 MB PNG (8200x8200 noise, uncompressed, so every
   path also decodes 67 MP to validate it) uploaded via tus in 8 MiB and in
   32 MiB PATCHes, in one streamed multipart POST /v1/images, and copied with
   `dd bs=8M conv=fsync` next to the service's data; `--tus-runs` rounds, the
   order rotated each round, medians reported.

Memory comes first, while the process has only served the warm-up (two small
images and a two-PATCH noise upload): after decoding a 67 MP image its heap is
larger for good.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from PIL import Image

from bench import backends, rss, service
from bench.checks import Checks
from bench.core import Phases
from bench.fixtures import FileFixture, write_noise_png
from bench.tus_client import (
    READ_BYTES,
    TusOutcome,
    dd_copy,
    direct_upload,
    file_source,
    noise_source,
    tus_upload,
    upload_status,
)

MIB = 1024**2
MAX_SIZE = 2 * 1024**3  # IMGHOST_MAX_FILE_SIZE and IMGHOST_MAX_BATCH_SIZE
DIRECT = "direct"
DD = "dd"
PNG = "image/png"
# The runs upload the same PNG again and again: each must be stored anew (a duplicate
# is answered with the owner's first image, nothing stored, and times nothing).
ALLOW_DUPLICATE = {"allowDuplicate": "true"}


@dataclass(frozen=True)
class TusConfig:
    runs: int = 5
    image_side: int = 8200  # 8200 * 8200 * 3 B = 202 MB, 67 MP (under the 100 MP default)
    chunks_mib: tuple[int, ...] = (8, 32)
    rss_mib: int = 1024
    rss_chunk_mib: int = 32
    rss_goal_mb: float = 64.0

    def as_json(self) -> dict[str, object]:
        return {
            "runs": self.runs,
            "image_side": self.image_side,
            "chunks_mib": list(self.chunks_mib),
            "rss_upload_mib": self.rss_mib,
            "rss_chunk_mib": self.rss_chunk_mib,
            "rss_goal_growth_mb": self.rss_goal_mb,
            "imghost": {
                "IMGHOST_WORKERS": 1,
                "IMGHOST_RUN_WORKER": False,
                "IMGHOST_MAX_FILE_SIZE": MAX_SIZE,
                "IMGHOST_MAX_BATCH_SIZE": MAX_SIZE,
            },
        }


def tus_label(chunk_mib: int) -> str:
    return f"tus {chunk_mib} MiB"


@dataclass
class MemoryResult:
    """The API process during one big tus upload."""

    usage: rss.Usage
    outcome: TusOutcome
    upload_bytes: int
    chunk_bytes: int
    status: dict[str, object]  # GET /v1/uploads/{id} afterwards

    @property
    def growth_mb(self) -> float:
        return (self.usage.rss_bytes - self.usage.start_rss_bytes) / 2**20

    def as_json(self) -> dict[str, object]:
        return {
            "upload_bytes": self.upload_bytes,
            "chunk_bytes": self.chunk_bytes,
            "seconds": round(self.outcome.seconds, 3),
            "mb_per_s": round(self.upload_bytes / 1e6 / self.outcome.seconds, 1),
            "patches": self.outcome.patches,
            "last_patch_status": self.outcome.final_status,
            "last_patch_code": self.outcome.final_code,
            "upload_status": self.status,
            "baseline_rss_mb": round(self.usage.start_rss_bytes / 2**20, 1),
            "growth_mb": round(self.growth_mb, 1),
            **self.usage.as_json(),
        }


@dataclass
class BackendTus:
    name: str
    description: str = ""
    #: seconds per run, by path: "tus 8 MiB", "tus 32 MiB", "direct", "dd"
    samples_s: dict[str, list[float]] = field(default_factory=dict)
    #: tus paths: seconds of the last PATCH (seal, assemble, validate, store) per run
    last_patch_s: dict[str, list[float]] = field(default_factory=dict)
    memory: MemoryResult | None = None
    checks: Checks = field(default_factory=Checks)
    error: str | None = None
    traceback: str | None = None
    log_tail: str | None = None
    phases_s: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and self.checks.ok

    def median_s(self, path: str) -> float | None:
        samples = self.samples_s.get(path)
        return statistics.median(samples) if samples else None

    def last_patch_median_s(self, path: str) -> float | None:
        samples = self.last_patch_s.get(path)
        return statistics.median(samples) if samples else None

    def mb_per_s(self, path: str, size: int) -> float | None:
        median = self.median_s(path)
        return size / 1e6 / median if median else None

    def ratio(self, path: str, against: str, size: int) -> float | None:
        """``path``'s MB/s ÷ ``against``'s (medians)."""
        mine, theirs = self.mb_per_s(path, size), self.mb_per_s(against, size)
        return mine / theirs if mine and theirs else None

    def as_json(self, size: int) -> dict[str, object]:
        def rounded(value: float | None, digits: int) -> float | None:
            return None if value is None else round(value, digits)

        return {
            "description": self.description,
            "ok": self.ok,
            "error": self.error,
            "traceback": self.traceback,
            "imghost_log_tail": self.log_tail,
            "throughput": {
                path: {
                    "samples_s": [round(v, 3) for v in samples],
                    "median_s": rounded(self.median_s(path), 3),
                    "last_patch_samples_s": [round(v, 3) for v in self.last_patch_s.get(path, [])],
                    "last_patch_median_s": rounded(self.last_patch_median_s(path), 3),
                    "mb_per_s": rounded(self.mb_per_s(path, size), 1),
                    "ratio_to_direct": rounded(self.ratio(path, DIRECT, size), 3),
                    "ratio_to_dd": rounded(self.ratio(path, DD, size), 3),
                }
                for path, samples in self.samples_s.items()
            },
            "memory": self.memory.as_json() if self.memory else None,
            "checks": self.checks.as_json(),
            "phases_s": {k: round(v, 1) for k, v in self.phases_s.items()},
        }


@dataclass
class TusResult:
    config: TusConfig
    image: FileFixture | None = None
    backends: list[BackendTus] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.backends) and all(b.ok for b in self.backends)

    def as_json(self) -> dict[str, object]:
        size = self.image.size if self.image else 0
        return {
            "image": self.image.as_json() if self.image else None,
            "backends": {b.name: b.as_json(size) for b in self.backends},
        }


def run(config: TusConfig, backend_names: list[str], progress: Callable[[str], None]) -> TusResult:
    result = TusResult(config)
    with tempfile.TemporaryDirectory(prefix="imghost-bench-tus-") as tmp:
        progress("writing the noise PNG")
        side = config.image_side
        result.image = write_noise_png(Path(tmp) / "noise.png", side, side)
        small = Path(tmp) / "small.png"
        Image.new("RGB", (64, 64), (200, 40, 40)).save(small, "PNG")
        for name in backend_names:
            progress(f"{name}: starting")
            result.backends.append(_run_backend(name, config, result.image, small, progress))
    return result


def _run_backend(
    name: str,
    config: TusConfig,
    image: FileFixture,
    small: Path,
    progress: Callable[[str], None],
) -> BackendTus:
    """Measure one combination; errors are recorded, never raised (Ctrl-C still is)."""
    result = BackendTus(name)
    phase = Phases(result.phases_s).mark
    svc: service.Service | None = None
    # The workdir is on the same filesystem as the image (the system temp dir),
    # and holds the service's data: the dd copies go there too.
    with tempfile.TemporaryDirectory(prefix=f"imghost-bench-tus-{name}-") as tmp:
        workdir = Path(tmp)
        try:
            with backends.opened(name, workdir) as backend:
                result.description = backend.description
                phase("start_backend")
                with service.running(
                    database_url=backend.database_url,
                    storage_url=backend.storage_url,
                    workdir=workdir,
                    workers=1,
                    settings={
                        "IMGHOST_MAX_FILE_SIZE": str(MAX_SIZE),
                        "IMGHOST_MAX_BATCH_SIZE": str(MAX_SIZE),
                    },
                ) as svc:
                    phase("start_imghost")
                    with httpx.Client(base_url=svc.base_url, timeout=900.0) as client:
                        token = service.sign_in(client)
                        client.headers["Authorization"] = f"Bearer {token}"
                        _warm_up(client, small, config, result.checks)
                        phase("warm_up")
                        progress(f"{name}: {config.rss_mib} MiB tus upload, sampling RSS")
                        result.memory = _memory(client, svc, config, result.checks)
                        phase("memory")
                        _throughput(client, workdir, config, image, result, progress)
                        phase("throughput")
        except Exception as exc:
            result.error = f"{type(exc).__name__}: {exc}"
            result.traceback = traceback.format_exc()
            if svc is not None:
                result.log_tail = svc.log_tail()
    return result


def _warm_up(client: httpx.Client, small: Path, config: TusConfig, checks: Checks) -> None:
    """One small upload each way and a two-PATCH tus upload of noise, so imports and
    first-use set-up are not measured.

    The noise upload is what the memory figure measures, only shorter: it is the first
    to span several PATCHes (on S3, the first multipart upload), and the store's client
    sets up its buffers and threads once, for the process's lifetime. Without it, that
    one-off ~50 MB on postgres-s3 was counted as the large upload's growth (measured:
    ~70 MB for the first noise upload of 64 MiB or 1 GiB, ~20 MB for each one after).
    """
    size = small.stat().st_size
    outcome = tus_upload(client, file_source(small), size, 8 * MIB, small.name, ALLOW_DUPLICATE)
    direct_upload(client, small, small.name, PNG)
    checks.add(
        "warm-up: a 64×64 PNG via tus becomes an image",
        outcome.final_status == 204,
        f"last PATCH {outcome.final_status}",
    )
    chunk = config.rss_chunk_mib * MIB
    noise = tus_upload(client, noise_source(os.urandom(READ_BYTES)), 2 * chunk, chunk, "warm.bin")
    checks.add(
        f"warm-up: {2 * config.rss_chunk_mib} MiB of random bytes via tus in two PATCHes, "
        "refused at validation as no image (expected)",
        400 <= noise.final_status < 500,
        f"last PATCH {noise.final_status} {noise.final_code}",
    )


def _memory(
    client: httpx.Client, svc: service.Service, config: TusConfig, checks: Checks
) -> MemoryResult:
    length = config.rss_mib * MIB
    chunk = config.rss_chunk_mib * MIB
    source = noise_source(os.urandom(READ_BYTES))
    time.sleep(1.0)  # let the warm-up's garbage settle before the baseline sample
    with rss.watching(rss.tree(svc.proc.pid)) as usage:
        outcome = tus_upload(client, source, length, chunk, "noise.bin")
    status = upload_status(client, outcome.upload_id)
    memory = MemoryResult(usage, outcome, length, chunk, status)
    checks.add(
        f"{config.rss_mib} MiB of random bytes via tus: every PATCH accepted, "
        "then refused at validation as no image (expected)",
        400 <= outcome.final_status < 500 and status.get("status") == "failed",
        f"last PATCH {outcome.final_status} {outcome.final_code}; "
        f"upload {status.get('status')}, offset {status.get('offset')}",
    )
    checks.add(
        f"API process RSS growth during the {config.rss_mib} MiB tus upload "
        f"< {config.rss_goal_mb:.0f} MB",
        memory.growth_mb < config.rss_goal_mb,
        f"{memory.growth_mb:.1f} MB (baseline {usage.start_rss_bytes / 2**20:.0f} MB, "
        f"peak {usage.rss_bytes / 2**20:.0f} MB)",
    )
    return memory


def _throughput(
    client: httpx.Client,
    workdir: Path,
    config: TusConfig,
    image: FileFixture,
    result: BackendTus,
    progress: Callable[[str], None],
) -> None:
    paths = [tus_label(c) for c in config.chunks_mib] + [DIRECT, DD]
    result.samples_s = {path: [] for path in paths}
    problems: dict[str, list[str]] = {path: [] for path in paths if path != DD}
    for round_index in range(config.runs):
        order = paths[round_index % len(paths) :] + paths[: round_index % len(paths)]
        for path in order:
            progress(f"{result.name}: round {round_index + 1}/{config.runs}, {path}")
            if path == DD:
                result.samples_s[DD].append(dd_copy(image.path, workdir / "dd.out"))
                continue
            image_id: str | None
            if path == DIRECT:
                image_id, seconds = direct_upload(client, image.path, image.path.name, PNG)
            else:
                chunk = config.chunks_mib[paths.index(path)] * MIB
                outcome, image_id = _tus_image(client, image, chunk, problems[path])
                seconds = outcome.seconds
                result.last_patch_s.setdefault(path, []).append(outcome.last_patch_seconds)
            result.samples_s[path].append(seconds)
            if image_id:
                problems[path] += _image_problems(client, image_id, image)
    for path, found in problems.items():
        result.checks.add(
            f"{path}: each of the {config.runs} uploads became an image with the PNG's "
            "size, SHA-256 and dimensions",
            not found,
            "; ".join(dict.fromkeys(found)) or "ok",
        )


def _tus_image(
    client: httpx.Client, image: FileFixture, chunk: int, problems: list[str]
) -> tuple[TusOutcome, str | None]:
    outcome = tus_upload(
        client, file_source(image.path), image.size, chunk, image.path.name, ALLOW_DUPLICATE
    )
    if outcome.final_status != 204:
        problems.append(f"last PATCH {outcome.final_status} {outcome.final_code}")
        return outcome, None
    status = upload_status(client, outcome.upload_id)
    image_id = status.get("imageId")
    if status.get("status") != "completed" or not isinstance(image_id, str):
        problems.append(f"upload {status.get('status')}, imageId {image_id}")
        return outcome, None
    return outcome, image_id


def _image_problems(client: httpx.Client, image_id: str, image: FileFixture) -> list[str]:
    response = client.get(f"/v1/images/{image_id}/metadata")
    if response.status_code != 200:
        return [f"GET metadata {response.status_code}"]
    facts = response.json()["file"]
    expected = {
        "size": image.size,
        "checksum": f"sha256:{image.sha256}",
        "width": image.width,
        "height": image.height,
        "format": "png",
    }
    return [f"{k} {facts.get(k)!r} ≠ {v!r}" for k, v in expected.items() if facts.get(k) != v]


def describe_image(image: FileFixture) -> str:
    return f"{image.size / 1e6:.1f} MB {image.kind} ({image.width * image.height / 1e6:.0f} MP)"
