"""The encryption section: what encrypting blobs at rest costs (issue 18).

Two `imghost serve` process groups run side by side on the same backend
combination (by default SQLite + local files), identical but for
``IMGHOST_ENCRYPTION_KEYS``: *plain* stores blobs as they are, *encrypted* seals
each in AES-256-GCM segments under its own data key. Every measurement is made
on both, one right after the other, and the order flips each round, so a
neighbour's load on the shared cores falls on both alike:

1. 10 MB direct upload: ``POST /v1/images`` multipart, latency (p50, p90);
2. tus upload of a ~200 MB PNG in 32 MiB PATCHes, MB/s;
3. ``GET /images/{id}`` of a 200 KB public JPEG under wrk, req/s, p50, p99;
4. the same with ``Range: bytes=X-(X+65535)`` in the middle of the 10 MB
   original, X half-way into a 64 KiB segment so that the range straddles two
   (as almost every range does).

Every upload is new bytes (a JPEG comment segment; ``allowDuplicate`` for tus):
a duplicate of the owner's image would be answered without storing anything.
The background worker is off while measuring; a separate `imghost worker`
makes the two GET targets ``ready`` first and is stopped before the rounds.
"""

from __future__ import annotations

import base64
import contextlib
import os
import statistics
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from PIL import Image
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bench import backends, service, wrk
from bench.backends import BUCKET, PREFIX, Backend
from bench.checks import Checks
from bench.fixtures import FileFixture, JpegFixture, make_jpeg, write_noise_png
from bench.stats import percentile
from bench.tus_client import TusOutcome, file_source, tus_upload, upload_status
from bench.uploads import multipart_body, upload_direct
from bench.wrk import WrkConfig
from imghost.storage.envelope import MAGIC, SEGMENT

MIB = 1024**2
MAX_SIZE = 2 * 1024**3  # IMGHOST_MAX_FILE_SIZE and IMGHOST_MAX_BATCH_SIZE
PLAIN = "plain"
ENCRYPTED = "encrypted"
MODES = (PLAIN, ENCRYPTED)
LARGE_BYTES = 10_000_000
SMALL_BYTES = 200_000
RANGE_BYTES = 65_536
GOAL_LOSS = 0.15  # at most 15 % less throughput with encryption


@dataclass(frozen=True)
class EncryptionConfig:
    rounds: int = 5  # each round: uploads, one tus upload, one wrk run per target, per mode
    uploads_per_round: int = 3  # timed 10 MB direct uploads per mode and round
    warmup_uploads: int = 2  # untimed, per mode, before the first round
    workers: int = 2  # IMGHOST_WORKERS of each service
    image_side: int = 8200  # the tus PNG: 8200 * 8200 * 3 B = 202 MB
    tus_chunk_mib: int = 32
    load: WrkConfig = field(default_factory=lambda: WrkConfig(duration=5, warmup=1))
    backend: str = "sqlite-local"

    def as_json(self) -> dict[str, object]:
        return {
            "rounds": self.rounds,
            "uploads_per_round": self.uploads_per_round,
            "warmup_uploads": self.warmup_uploads,
            "image_side": self.image_side,
            "tus_chunk_mib": self.tus_chunk_mib,
            "wrk": self.load.command("URL"),
            "wrk_warmup_s": self.load.warmup,
            "backend": self.backend,
            "imghost": {
                "IMGHOST_WORKERS": self.workers,
                "IMGHOST_RUN_WORKER": False,
                **service.ROOM,
                "IMGHOST_MAX_FILE_SIZE": MAX_SIZE,
                "IMGHOST_ENCRYPTION_KEYS": "bench:<random 32 bytes> (encrypted only)",
            },
        }


@dataclass
class ModeResult:
    """One service's samples."""

    upload_ms: list[float] = field(default_factory=list)
    tus_s: list[float] = field(default_factory=list)
    #: The last PATCH alone: sealing, assembling, validating and storing the upload.
    tus_last_patch_s: list[float] = field(default_factory=list)
    get: list[wrk.WrkResult] = field(default_factory=list)
    range_get: list[wrk.WrkResult] = field(default_factory=list)

    def as_json(self, tus_bytes: int) -> dict[str, object]:
        def runs(results: list[wrk.WrkResult]) -> list[dict[str, object]]:
            return [r.as_json() for r in results]

        return {
            "upload_samples_ms": [round(v, 2) for v in self.upload_ms],
            "tus_samples_s": [round(v, 3) for v in self.tus_s],
            "tus_mb_per_s_samples": [round(tus_bytes / 1e6 / s, 1) for s in self.tus_s],
            "tus_last_patch_samples_s": [round(v, 3) for v in self.tus_last_patch_s],
            "get_runs": runs(self.get),
            "range_get_runs": runs(self.range_get),
        }


@dataclass(frozen=True)
class Row:
    """One figure, plain and encrypted (medians over the samples or rounds)."""

    key: str
    label: str
    unit: str
    plain: float
    encrypted: float
    #: True: higher is better (MB/s, req/s), and the row has a throughput loss.
    throughput: bool

    @property
    def ratio(self) -> float:
        return self.encrypted / self.plain

    @property
    def loss(self) -> float | None:
        return 1 - self.ratio if self.throughput else None

    @property
    def goal_met(self) -> bool | None:
        loss = self.loss
        return None if loss is None else loss <= GOAL_LOSS

    def as_json(self) -> dict[str, object]:
        loss = self.loss
        return {
            "label": self.label,
            "unit": self.unit,
            PLAIN: round(self.plain, 2),
            ENCRYPTED: round(self.encrypted, 2),
            "ratio_encrypted_to_plain": round(self.ratio, 4),
            "throughput_loss": None if loss is None else round(loss, 4),
            "goal_met": self.goal_met,
        }


@dataclass
class EncryptionResult:
    config: EncryptionConfig
    description: str = ""
    large: JpegFixture | None = None
    small: JpegFixture | None = None
    tus_image: FileFixture | None = None
    range_start: int = 0
    modes: dict[str, ModeResult] = field(default_factory=lambda: {m: ModeResult() for m in MODES})
    checks: Checks = field(default_factory=Checks)
    error: str | None = None
    traceback: str | None = None
    log_tails: dict[str, str] = field(default_factory=dict)
    phases_s: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and self.checks.ok and bool(self.rows())

    def rows(self) -> list[Row]:
        """The table's rows, for what was measured on both services."""
        plain, enc = self.modes[PLAIN], self.modes[ENCRYPTED]
        rows: list[Row] = []

        def add(key: str, label: str, unit: str, a: list[float], b: list[float], up: bool) -> None:
            if a and b:
                rows.append(Row(key, label, unit, statistics.median(a), statistics.median(b), up))

        def pct(samples: list[float], p: float) -> list[float]:
            return [percentile(samples, p)] if samples else []

        large_mb = self.large.size / 1e6 if self.large else 0.0
        add(
            "upload_p50_ms",
            f"{large_mb:.0f} MB direct upload p50",
            "ms",
            plain.upload_ms,
            enc.upload_ms,
            False,
        )
        add(
            "upload_p90_ms",
            f"{large_mb:.0f} MB direct upload p90",
            "ms",
            pct(plain.upload_ms, 90),
            pct(enc.upload_ms, 90),
            False,
        )
        add(
            "upload_mb_per_s",
            f"{large_mb:.0f} MB direct upload",
            "MB/s",
            [large_mb / (v / 1e3) for v in plain.upload_ms],
            [large_mb / (v / 1e3) for v in enc.upload_ms],
            True,
        )
        if self.tus_image:
            tus_mb = self.tus_image.size / 1e6
            add(
                "tus_mb_per_s",
                f"tus {tus_mb:.0f} MB upload",
                "MB/s",
                [tus_mb / s for s in plain.tus_s],
                [tus_mb / s for s in enc.tus_s],
                True,
            )
            add(
                "tus_last_patch_s",
                "  of which the last PATCH (finalize)",
                "s",
                plain.tus_last_patch_s,
                enc.tus_last_patch_s,
                False,
            )
        for key, name, a, b in (
            ("get", "GET 200 KB original", plain.get, enc.get),
            ("range", "Range GET 64 KB", plain.range_get, enc.range_get),
        ):
            add(
                f"{key}_rps",
                f"{name} req/s",
                "req/s",
                [r.requests_per_s for r in a],
                [r.requests_per_s for r in b],
                True,
            )
            add(
                f"{key}_p50_ms",
                f"{name} p50",
                "ms",
                [r.p50_ms for r in a],
                [r.p50_ms for r in b],
                False,
            )
            add(
                f"{key}_p99_ms",
                f"{name} p99",
                "ms",
                [r.p99_ms for r in a],
                [r.p99_ms for r in b],
                False,
            )
        return rows

    def as_json(self) -> dict[str, object]:
        tus_bytes = self.tus_image.size if self.tus_image else 0
        return {
            "description": self.description,
            "error": self.error,
            "traceback": self.traceback,
            "imghost_log_tails": self.log_tails,
            "fixtures": {
                "large": self.large.as_json() if self.large else None,
                "small": self.small.as_json() if self.small else None,
                "tus": self.tus_image.as_json() if self.tus_image else None,
                "range": _range(self.range_start),
            },
            "goal_max_throughput_loss": GOAL_LOSS,
            "summary": {row.key: row.as_json() for row in self.rows()},
            "samples": {mode: r.as_json(tus_bytes) for mode, r in self.modes.items()},
            "checks": self.checks.as_json(),
            "phases_s": {k: round(v, 1) for k, v in self.phases_s.items()},
        }


@dataclass
class Side:
    """One running service with its owner's client and its GET targets."""

    mode: str
    svc: service.Service
    backend: Backend
    workdir: Path
    client: httpx.Client
    small_id: str = ""
    large_id: str = ""


def unique_jpeg(data: bytes, serial: int) -> bytes:
    """``data`` with a comment segment after SOI naming ``serial``: new bytes, same image."""
    note = f"imghost-bench {serial}".encode()
    return data[:2] + b"\xff\xfe" + (len(note) + 2).to_bytes(2, "big") + note + data[2:]


def run(config: EncryptionConfig, progress: Callable[[str], None]) -> EncryptionResult:
    """Measure both services; errors are recorded, never raised (Ctrl-C still is)."""
    result = EncryptionResult(config)
    last = time.perf_counter()

    def phase(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        result.phases_s[name] = now - last
        last = now

    sides: list[Side] = []
    with tempfile.TemporaryDirectory(prefix="imghost-bench-enc-") as tmp:
        root = Path(tmp)
        try:
            progress("generating fixtures")
            result.large = make_jpeg(LARGE_BYTES, 4000, 3000)
            result.small = make_jpeg(SMALL_BYTES, 640, 480)
            side_px = config.image_side
            result.tus_image = write_noise_png(root / "noise.png", side_px, side_px)
            Image.new("RGB", (64, 64), (200, 40, 40)).save(root / "small.png", "PNG")
            phase("fixtures")
            with contextlib.ExitStack() as stack:
                for mode in MODES:
                    progress(f"starting the {mode} service")
                    sides.append(stack.enter_context(_side(mode, root, config, result)))
                phase("start")
                _prepare(sides, result, root, progress)
                phase("prepare")
                _rounds(sides, config, result, progress)
                phase("rounds")
                for side in sides:
                    _check_blobs(side, result.checks)
        except Exception as exc:
            result.error = f"{type(exc).__name__}: {exc}"
            result.traceback = traceback.format_exc()
            for side in sides:
                result.log_tails[side.mode] = side.svc.log_tail()
    return result


@contextlib.contextmanager
def _side(
    mode: str, root: Path, config: EncryptionConfig, result: EncryptionResult
) -> Iterator[Side]:
    workdir = root / mode
    workdir.mkdir()
    settings = {
        "IMGHOST_MAX_FILE_SIZE": str(MAX_SIZE),
        "IMGHOST_MAX_BATCH_SIZE": str(MAX_SIZE),
    }
    if mode == ENCRYPTED:
        key = base64.b64encode(os.urandom(32)).decode()
        settings["IMGHOST_ENCRYPTION_KEYS"] = f"bench:{key}"
    with (
        backends.opened(config.backend, workdir) as backend,
        service.running(
            database_url=backend.database_url,
            storage_url=backend.storage_url,
            workdir=workdir,
            workers=config.workers,
            settings=settings,
        ) as svc,
        httpx.Client(base_url=svc.base_url, timeout=900.0) as client,
    ):
        result.description = backend.description
        client.headers["Authorization"] = f"Bearer {service.sign_in(client)}"
        yield Side(mode, svc, backend, workdir, client)


def _prepare(
    sides: list[Side], result: EncryptionResult, root: Path, progress: Callable[[str], None]
) -> None:
    """Upload the two GET targets, have `imghost worker` make them ready, check them."""
    assert result.large and result.small
    large = unique_jpeg(result.large.data, 0)
    # Half-way into a segment a little past the middle: the range spans two segments.
    result.range_start = (len(large) // 2 // SEGMENT) * SEGMENT + SEGMENT // 2
    expected_range = large[result.range_start : result.range_start + RANGE_BYTES]
    for side in sides:
        body, content_type = multipart_body(result.small.data, "small.jpg")
        side.small_id = upload_direct(side.client, body, content_type)
        body, content_type = multipart_body(large, "large.jpg")
        side.large_id = upload_direct(side.client, body, content_type)
    with contextlib.ExitStack() as stack:
        workers = [
            stack.enter_context(service.worker_running(side.svc, side.workdir)) for side in sides
        ]
        progress("imghost worker: processing the GET targets")
        for side, worker in zip(sides, workers, strict=True):
            statuses = service.wait_processed(side.client, [side.small_id, side.large_id], worker)
            result.checks.add(
                f"{side.mode}: `imghost worker` made both GET targets ready",
                set(statuses.values()) == {"ready"},
                str(statuses),
            )
    for side in sides:
        base = side.svc.base_url
        result.checks.get_returns(
            f"{side.mode}: GET /images/{{id}} returns the 200 KB JPEG's exact bytes",
            f"{base}/images/{side.small_id}",
            result.small.data,
        )
        result.checks.get_returns(
            f"{side.mode}: GET /images/{{id}} returns the 10 MB JPEG's exact bytes",
            f"{base}/images/{side.large_id}",
            large,
        )
        _check_range(side, result, expected_range)
        # Warm-up: first use of the tus path and of the upload path in every API process.
        outcome = tus_upload(
            side.client,
            file_source(root / "small.png"),
            (root / "small.png").stat().st_size,
            MIB,
            "small.png",
            {"allowDuplicate": "true"},
        )
        result.checks.add(
            f"{side.mode}: warm-up tus upload of a 64×64 PNG accepted",
            outcome.final_status == 204,
            f"last PATCH {outcome.final_status} {outcome.final_code}",
        )
        for serial in range(result.config.warmup_uploads):
            body, content_type = multipart_body(unique_jpeg(result.large.data, 1_000 + serial))
            upload_direct(side.client, body, content_type)


def _range(start: int) -> str:
    """The Range header's value for the 64 KB from ``start``."""
    return f"bytes={start}-{start + RANGE_BYTES - 1}"


def _check_range(side: Side, result: EncryptionResult, expected: bytes) -> None:
    name = f"{side.mode}: 64 KB Range GET answers 206 with exactly those bytes"
    response = httpx.get(
        f"{side.svc.base_url}/images/{side.large_id}",
        headers={"Range": _range(result.range_start)},
        timeout=60.0,
    )
    ok = response.status_code == 206 and response.content == expected
    result.checks.add(
        name,
        ok,
        f"{response.status_code}, {len(response.content)} bytes, "
        f"Content-Range {response.headers.get('content-range')!r}",
    )


def _rounds(
    sides: list[Side],
    config: EncryptionConfig,
    result: EncryptionResult,
    progress: Callable[[str], None],
) -> None:
    """Each kind of measurement on one service then the other, the order flipped per round."""
    assert result.large and result.small and result.tus_image
    serial = 2_000
    tus_problems: dict[str, list[str]] = {side.mode: [] for side in sides}
    wrk_errors: dict[str, list[str]] = {side.mode: [] for side in sides}
    for index in range(config.rounds):
        order = sides if index % 2 == 0 else sides[::-1]
        tag = f"round {index + 1}/{config.rounds}"
        for upload in range(config.uploads_per_round):
            for side in order:
                progress(f"{tag}: {side.mode}, 10 MB direct upload {upload + 1}")
                serial += 1
                body, content_type = multipart_body(unique_jpeg(result.large.data, serial))
                start = time.perf_counter()
                upload_direct(side.client, body, content_type)
                result.modes[side.mode].upload_ms.append((time.perf_counter() - start) * 1e3)
        for side in order:
            progress(f"{tag}: {side.mode}, tus upload")
            outcome = _tus(side, result.tus_image, config, tus_problems[side.mode])
            result.modes[side.mode].tus_s.append(outcome.seconds)
            result.modes[side.mode].tus_last_patch_s.append(outcome.last_patch_seconds)
        for side in order:
            progress(f"{tag}: {side.mode}, wrk GET")
            measured = wrk.run(f"{side.svc.base_url}/images/{side.small_id}", config.load)
            result.modes[side.mode].get.append(measured)
            if measured.errors:
                wrk_errors[side.mode].append(f"GET {measured.errors}/{measured.requests}")
        for side in order:
            progress(f"{tag}: {side.mode}, wrk Range GET")
            measured = wrk.run(
                f"{side.svc.base_url}/images/{side.large_id}",
                config.load,
                headers=[f"Range: {_range(result.range_start)}"],
            )
            result.modes[side.mode].range_get.append(measured)
            if measured.errors:
                wrk_errors[side.mode].append(f"Range {measured.errors}/{measured.requests}")
    for side in sides:
        result.checks.add(
            f"{side.mode}: each tus upload became a new image with the PNG's size and SHA-256",
            not tus_problems[side.mode],
            "; ".join(dict.fromkeys(tus_problems[side.mode])) or "ok",
        )
        result.checks.add(
            f"{side.mode}: wrk saw no errors (non-2xx/3xx or socket)",
            not wrk_errors[side.mode],
            "; ".join(wrk_errors[side.mode]) or "ok",
        )


def _tus(
    side: Side, image: FileFixture, config: EncryptionConfig, problems: list[str]
) -> TusOutcome:
    outcome = tus_upload(
        side.client,
        file_source(image.path),
        image.size,
        config.tus_chunk_mib * MIB,
        image.path.name,
        {"allowDuplicate": "true"},
    )
    if outcome.final_status != 204:
        problems.append(f"last PATCH {outcome.final_status} {outcome.final_code}")
        return outcome
    status = upload_status(side.client, outcome.upload_id)
    image_id = status.get("imageId")
    if status.get("status") != "completed" or not isinstance(image_id, str):
        problems.append(f"upload {status.get('status')}, imageId {image_id}")
        return outcome
    response = side.client.get(f"/v1/images/{image_id}/metadata")
    if response.status_code != 200:
        problems.append(f"GET metadata {response.status_code}")
        return outcome
    facts = response.json()["file"]
    expected = {"size": image.size, "checksum": f"sha256:{image.sha256}"}
    problems += [f"{k} {facts.get(k)!r} ≠ {v!r}" for k, v in expected.items() if facts.get(k) != v]
    return outcome


def _blob_heads(side: Side) -> list[bytes]:
    """The first bytes of every stored blob (local files or the S3 bucket)."""
    if side.backend.s3 is not None:
        s3 = side.backend.s3.client()
        heads = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=PREFIX):
            for obj in page.get("Contents", []):
                got = s3.get_object(Bucket=BUCKET, Key=obj["Key"], Range="bytes=0-7")
                heads.append(got["Body"].read())
        return heads
    blobs = Path(side.backend.storage_url.removeprefix("file://"))
    heads = []
    for path in blobs.rglob("*"):
        if path.is_file():
            with open(path, "rb") as fh:
                heads.append(fh.read(len(MAGIC)))
    return heads


def _check_blobs(side: Side, checks: Checks) -> None:
    """The encrypted service really encrypted, the plain one did not."""
    heads = _blob_heads(side)
    sealed = sum(head == MAGIC for head in heads)
    want = len(heads) if side.mode == ENCRYPTED else 0
    checks.add(
        f"{side.mode}: {'every' if want else 'no'} stored blob starts with the envelope's magic",
        bool(heads) and sealed == want,
        f"{sealed} of {len(heads)} blobs sealed",
    )


def print_section(console: Console, result: EncryptionResult) -> None:
    config = result.config
    uploads = config.rounds * config.uploads_per_round
    table = Table(
        title=(
            f"Encryption at rest — {escape(result.description)}; medians of {config.rounds} "
            f"interleaved rounds ({uploads} direct uploads, {config.rounds} tus uploads per "
            f"service; {config.load.command('URL')} after {config.load.warmup} s warm-up)"
        ),
        title_justify="left",
    )
    table.add_column("figure")
    for heading in (PLAIN, ENCRYPTED, "encrypted ÷ plain", "throughput loss", "goal ≤ 15 %"):
        table.add_column(heading, justify="right")
    for row in result.rows():
        digits = {"req/s": 0, "s": 2}.get(row.unit, 1)
        loss, met = row.loss, row.goal_met
        table.add_row(
            f"{row.label} ({row.unit})",
            f"{row.plain:,.{digits}f}",
            f"{row.encrypted:,.{digits}f}",
            f"{row.ratio:.3f}",
            "" if loss is None else f"{loss:.1%}",
            "" if met is None else ("[green]✓[/green]" if met else "[red]✗[/red]"),
        )
    console.print(table)
    for check in result.checks.items:
        mark = "[green]✓[/green]" if check.ok else "[red]✗[/red]"
        console.print(f"{mark} {escape(check.name)}: [dim]{escape(check.detail)}[/dim]")
    if result.error:
        console.print(f"[red]error:[/red] {escape(result.error)}")
        for mode, tail in result.log_tails.items():
            console.print(f"[dim]{mode} imghost log (tail):\n{escape(tail)}[/dim]")
    phases = ", ".join(f"{k} {v:.1f}s" for k, v in result.phases_s.items())
    console.print(f"[dim]time spent: {phases}[/dim]")
