"""The capacity section: per-core figures for the capacity model in docs/OPERATIONS.md.

On each backend combination (SQLite + local files, PostgreSQL + S3 on moto):

1. In this process (bench.capacity_inproc): seed an account with processed
   public and private images, count the SQL statements of each route kind, and
   run the worker at concurrency 1 over 12 MP phone photos (a generated JPEG, the
   corpus's iPhone HEIC): images/s, CPU seconds and statements per image. CPU is
   timed on SQLite + local files only: on the other, moto's S3 server runs in this
   process and would be counted.
2. One `imghost serve` process (IMGHOST_WORKERS=1, no in-process worker) on the
   same data (bench.capacity_load): wrk by read kind, httpx for uploads; medians
   of rounds, req/s and the API process's CPU µs per request.

Then the model (bench.capacity_model) turns the PostgreSQL + S3 figures (the
production shape) and the processing figures into hardware for the design's
estimate and for a billion images.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import statistics
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import backends as backend_combinations
from bench import capacity_inproc, capacity_load, capacity_model, service, wrk
from bench.capacity_inproc import InprocResult, Photo
from bench.capacity_load import KindRuns
from bench.checks import Checks
from bench.fixtures import make_jpeg
from bench.sources import corpus_dir, make_photo_jpeg
from imghost.settings import Settings

# The search section's PostgreSQL seed of 1,000,000 images (4.6 tags each, the
# full-text index): 3,503,365,479 bytes, pg_database_size after seeding.
DATABASE_BYTES_PER_IMAGE = 3_503
HEIC_CORPUS_FILE = "heic/iphone_13_pro_max.HEIC"
# The backend whose figures the model scales: the production shape.
MODEL_BACKEND = "postgres-s3"
TIMED_BACKEND = "sqlite-local"  # processing CPU (see the module's docstring)

# Beyond bench.service.ROOM: on cores shared with a test suite, checking a 12 MP
# photo has taken over the default 30 s; the section measures CPU, not refusals.
ROOM = {"IMGHOST_VALIDATION_TIMEOUT": "600"}

DESIGN = capacity_model.Workload(images=1_000_000, peak_rps=77, views_per_month=20e6)
# A thousand times the design's images and views; at that size views dominate even
# more (a public host's long tail), and uploads are ~38/s at the peak (at a third of
# that on average, a billion images in about two and a half years).
BILLION_MIX = {
    "view_cached": 0.63,
    "view_uncached": 0.30,
    "view_private": 0.02,
    "metadata": 0.02,
    "listing": 0.015,
    "search": 0.015,
    "upload_direct": 0.00025,
    "upload_tus": 0.00025,
}
BILLION_HIT_RATIOS = (0.0, 0.9, 0.95, 0.99)
BILLION_API_CORES = 128  # the API tier the CDN's hit ratio is sized for


def billion(hit_ratio: float) -> capacity_model.Workload:
    return capacity_model.Workload(
        images=1_000_000_000,
        peak_rps=77_000,
        views_per_month=20e9,
        mix=BILLION_MIX,
        cdn_hit_ratio=hit_ratio,
    )


@dataclass(frozen=True)
class CapacityConfig:
    rounds: int = 3
    wrk: wrk.WrkConfig = field(
        # One wrk thread: the other core is the API process's.
        default_factory=lambda: wrk.WrkConfig(threads=1, connections=8, duration=2, warmup=1)
    )
    upload_rounds: int = 3
    uploads_per_round: int = 4

    def as_json(self) -> dict[str, object]:
        return {
            "rounds": self.rounds,
            "api_processes": 1,
            "wrk": {
                "threads": self.wrk.threads,
                "connections": self.wrk.connections,
                "duration_s": self.wrk.duration,
                "warmup_s": self.wrk.warmup,
            },
            "upload_rounds": self.upload_rounds,
            "uploads_per_round": self.uploads_per_round,
            "upload_threads": capacity_load.UPLOAD_THREADS,
            "statement_repeats": capacity_inproc.REPEATS,
            "processed_per_photo": capacity_inproc.PROCESSED_RUNS,
        }


@dataclass
class BackendCapacity:
    name: str
    inproc: InprocResult | None = None
    kinds: dict[str, KindRuns] = field(default_factory=dict)
    phases_s: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None

    def cpu_us(self) -> dict[str, float]:
        return {k: statistics.median(r.cpu_us) for k, r in self.kinds.items() if r.cpu_us}

    def db_cpu_us(self) -> dict[str, float]:
        return {k: statistics.median(r.db_cpu_us) for k, r in self.kinds.items() if r.db_cpu_us}

    def statements(self) -> dict[str, float]:
        if self.inproc is None:
            return {}
        return {k: float(statistics.median(v)) for k, v in self.inproc.statements.items()}

    def as_json(self) -> dict[str, object]:
        inproc = self.inproc
        return {
            "routes": {k: r.as_json() for k, r in self.kinds.items()},
            "statements": inproc.statements_json() if inproc else {},
            "processing": {k: p.as_json() for k, p in inproc.processed.items()} if inproc else {},
            "phases_s": {k: round(v, 1) for k, v in self.phases_s.items()},
            "error": self.error,
            "traceback": self.traceback,
        }


@dataclass
class CapacityResult:
    photos: dict[str, dict[str, object]] = field(default_factory=dict)
    backends: dict[str, BackendCapacity] = field(default_factory=dict)
    checks: Checks = field(default_factory=Checks)
    model: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return (
            self.error is None
            and self.checks.ok
            and all(b.error is None for b in self.backends.values())
            and bool(self.model)
        )

    def as_json(self) -> dict[str, object]:
        return {
            "photos": self.photos,
            "backends": {name: b.as_json() for name, b in self.backends.items()},
            "model": self.model,
            "checks": self.checks.as_json(),
            "error": self.error,
        }


def figures(result: CapacityResult) -> capacity_model.Figures | None:
    """The model's inputs: routes and statements of the production shape, processing
    CPU where it was timed, stored bytes of the photos; None when one is missing."""
    scaled = result.backends.get(MODEL_BACKEND) or next(iter(result.backends.values()), None)
    timed = result.backends.get(TIMED_BACKEND)
    if scaled is None or scaled.inproc is None or timed is None or timed.inproc is None:
        return None
    processed = list(timed.inproc.processed.values())
    counted = list(scaled.inproc.processed.values())
    cpu_us = scaled.cpu_us()
    if not processed or not counted or not set(DESIGN.mix) <= set(cpu_us):
        return None
    return capacity_model.Figures(
        cpu_us=cpu_us,
        db_cpu_us=scaled.db_cpu_us(),
        statements=scaled.statements(),
        # Phones shoot both: an even mix of the two photos.
        processing_cpu_s=statistics.fmean(p.cpu_s / p.images for p in processed),
        processing_statements=statistics.fmean(p.statements / p.images for p in counted),
        stored_bytes_per_image=statistics.fmean(
            p.original_bytes + p.derived_bytes for p in processed
        ),
        database_bytes_per_image=DATABASE_BYTES_PER_IMAGE,
    )


def model(found: capacity_model.Figures) -> dict[str, Any]:
    """The plans the docs quote: the design's estimate, and a billion images at a few
    CDN hit ratios, with the hit ratio an API tier of ``BILLION_API_CORES`` needs."""
    return {
        "inputs": {
            "cpu_us": {k: round(v, 1) for k, v in found.cpu_us.items()},
            "db_cpu_us": {k: round(v, 1) for k, v in found.db_cpu_us.items()},
            "statements": dict(found.statements),
            "processing_cpu_s": round(found.processing_cpu_s, 3),
            "processing_statements": round(found.processing_statements, 1),
            "stored_bytes_per_image": round(found.stored_bytes_per_image),
            "database_bytes_per_image": found.database_bytes_per_image,
            "mix": dict(DESIGN.mix),
            "billion_mix": BILLION_MIX,
            "utilisation": DESIGN.utilisation,
            "worker_utilisation": DESIGN.worker_utilisation,
        },
        "design": capacity_model.plan(found, DESIGN).as_json(),
        "billion": {
            f"{h:g}": capacity_model.plan(found, billion(h)).as_json() for h in BILLION_HIT_RATIOS
        },
        "billion_api_cores": BILLION_API_CORES,
        "billion_hit_ratio_needed": capacity_model.hit_ratio_for(
            found, billion(0.0), BILLION_API_CORES
        ),
    }


def _photos(workdir: Path) -> tuple[list[Photo], str | None]:
    """The 12 MP JPEG (generated) and the corpus's HEIC; without the corpus the HEIC is
    left out, with the reason: encoding a 12 MP HEIC here takes minutes (x265)."""
    jpeg = workdir / "phone.jpg"
    make_photo_jpeg(jpeg, 4032, 3024, quality=85)
    photos = [Photo("jpeg-12mp", jpeg, "image/jpeg")]
    heic = corpus_dir() / HEIC_CORPUS_FILE
    if not heic.is_file():
        return photos, f"{heic} not found: set IMGHOST_CORPUS to the shared corpus"
    shutil.copyfile(heic, workdir / "phone.heic")
    photos.append(Photo("heic-12mp", workdir / "phone.heic", "image/heic"))
    return photos, None


def _settings_env(backend: backend_combinations.Backend, workdir: Path) -> dict[str, str]:
    """What the in-process app and the API process share: the data and the secret."""
    (workdir / "spool").mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "IMGHOST_DATABASE_URL": backend.database_url,
        "IMGHOST_STORAGE_URL": backend.storage_url,
        "IMGHOST_SECRET_KEY": secrets.token_urlsafe(48),
        "IMGHOST_TMP_DIR": str(workdir / "spool"),
        "IMGHOST_RUN_WORKER": "false",
        "IMGHOST_LOG_LEVEL": "WARNING",
        **service.ROOM,
        **ROOM,
    }


def run_backend(
    name: str,
    config: CapacityConfig,
    small: bytes,
    photos: list[Photo],
    checks: Checks,
    progress: Callable[[str], None],
) -> BackendCapacity:
    outcome = BackendCapacity(name)
    with tempfile.TemporaryDirectory(prefix=f"imghost-bench-capacity-{name}-") as tmp:
        workdir = Path(tmp)
        clock = time.perf_counter()

        def phase(what: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            outcome.phases_s[what] = now - clock
            clock = now

        try:
            with backend_combinations.opened(name, workdir) as backend:
                phase("start_backend")
                env = _settings_env(backend, workdir)
                settings = Settings.from_env(env)
                outcome.inproc = asyncio.run(
                    capacity_inproc.run(
                        settings,
                        small,
                        photos,
                        time_processing=name == TIMED_BACKEND,
                        progress=lambda what: progress(f"{name}: {what}"),
                    )
                )
                phase("in_process")
                seed = outcome.inproc.seed
                assert seed is not None
                with service.running(
                    database_url=backend.database_url,
                    storage_url=backend.storage_url,
                    workdir=workdir,
                    workers=1,
                    settings={
                        "IMGHOST_SECRET_KEY": env["IMGHOST_SECRET_KEY"],
                        "IMGHOST_AUTO_MIGRATE": "false",
                        **ROOM,
                    },
                ) as svc:
                    phase("start_api_process")
                    db_pid = backend.postgres.proc.pid if backend.postgres else None
                    meter = capacity_load.Meter(svc.proc.pid, db_pid)
                    outcome.kinds = capacity_load.load_reads(
                        svc,
                        meter,
                        seed,
                        config.wrk,
                        config.rounds,
                        checks,
                        lambda what: progress(f"{name}: {what}"),
                    )
                    phase("load_reads")
                    outcome.kinds |= capacity_load.load_uploads(
                        svc,
                        meter,
                        seed,
                        photos[0],
                        config.upload_rounds,
                        config.uploads_per_round,
                        checks,
                        lambda what: progress(f"{name}: {what}"),
                    )
                    phase("load_uploads")
        except Exception as exc:
            outcome.error = f"{type(exc).__name__}: {exc}"
            outcome.traceback = traceback.format_exc()
    return outcome


def run(
    config: CapacityConfig, names: list[str], progress: Callable[[str], None]
) -> CapacityResult:
    """Measure every backend, then the model; errors are recorded, never raised."""
    result = CapacityResult()
    with tempfile.TemporaryDirectory(prefix="imghost-bench-capacity-") as tmp:
        try:
            progress("generate the photos")
            photos, missing = _photos(Path(tmp))
            small = make_jpeg(100_000, 1024, 768).data
            result.photos = {
                p.key: {"file": p.path.name, "bytes": p.path.stat().st_size} for p in photos
            }
            result.photos["small-jpeg"] = {"bytes": len(small), "width": 1024, "height": 768}
            if missing:
                result.photos["heic-12mp"] = {"skipped": missing}
            for name in names:
                result.backends[name] = run_backend(
                    name, config, small, photos, result.checks, progress
                )
        except Exception as exc:
            result.error = f"{type(exc).__name__}: {exc}"
    found = figures(result)
    if found is not None:
        result.model = model(found)
    return result


# -- the console tables ----------------------------------------------------------

KIND_LABELS = {
    "view_cached": "view, public, cached facts (GET /images/{id})",
    "view_uncached": "view, public, facts from the database (no-cache)",
    "view_private": "view, private, owner's token",
    "metadata": "metadata (GET /v1/images/{id})",
    "listing": "listing (GET /v1/users/{id}/images)",
    "search": "search (GET /v1/images?q=)",
    "upload_direct": "upload, direct multipart, 12 MP JPEG",
    "upload_tus": "upload, tus create + 1 PATCH, 12 MP JPEG",
}


def print_section(console: Any, result: CapacityResult) -> None:
    from rich.table import Table

    routes = Table(
        title="One API process by route kind: medians of rounds; per core = 10⁶ ÷ the API "
        "process's CPU µs per request; statements: SQL per request (in process, median)"
    )
    routes.add_column("route kind")
    for name in result.backends:
        routes.add_column(f"{name} req/s", justify="right")
        routes.add_column("per core", justify="right")
        routes.add_column("stmts", justify="right")
    for kind, label in KIND_LABELS.items():
        cells = [label]
        for b in result.backends.values():
            runs = b.kinds.get(kind)
            data = runs.as_json() if runs else {}
            statements = b.statements().get(kind)
            cells += [
                _fmt(data.get("median_requests_per_s")),
                _fmt(data.get("requests_per_core_s")),
                _fmt(statements, 0),
            ]
        routes.add_row(*cells)
    console.print(routes)
    processing = Table(title="Processing at concurrency 1 (the worker, in process)")
    for column in ("backend", "photo", "images/s", "CPU s/image", "statements/image", "stored MB"):
        processing.add_column(column, justify="left" if column in ("backend", "photo") else "right")
    for name, b in result.backends.items():
        for key, p in (b.inproc.processed if b.inproc else {}).items():
            data = p.as_json()
            processing.add_row(
                name,
                key,
                _fmt(data.get("images_per_s"), 2),
                _fmt(data.get("cpu_s_per_image"), 2),
                _fmt(data.get("statements_per_image"), 0),
                _fmt((p.original_bytes + p.derived_bytes) / 1e6, 2),
            )
    console.print(processing)
    if result.model:
        design = result.model["design"]
        console.print(
            f"design estimate (1 M images, 77 RPS peak): {design['api_processes']} API "
            f"processes ({design['api_cores']:.2f} cores), {design['worker_processes']} "
            f"workers ({design['worker_cores']:.2f} cores), "
            f"{design['statements_per_s']:.0f} statements/s "
            f"({design['database_cores']:.2f} PostgreSQL cores), {design['stored_tb']:.1f} TB "
            f"stored, {design['database_gb']:.1f} GB database"
        )
    for name, b in result.backends.items():
        if b.phases_s:
            console.print(f"{name}: " + ", ".join(f"{k} {v:.1f} s" for k, v in b.phases_s.items()))
        if b.error:
            console.print(f"[red]{name}: {b.error}[/red]")
    if result.error:
        console.print(f"[red]{result.error}[/red]")


def _fmt(value: Any, digits: int = 1) -> str:
    return f"{value:,.{digits}f}" if isinstance(value, int | float) else "-"
