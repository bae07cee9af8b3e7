"""`make bench`: the core section (upload latency and GET throughput on every backend
combination), then the processing section (presets, on-demand transforms, throughput
against thumbor), then the tus section (resumable upload throughput against a direct
upload and dd, and the API process's memory during a 1 GiB upload), then the search section
(listing and full-text latency on a bulk-seeded PostgreSQL with 1,000,000 images and
SQLite with 100,000), then the http section (delivery and /healthz under each HTTP
server candidate, against plain uvicorn + httptools), then the scan section (ClamAV's
cost per MB against the structural scan, and its share of upload to ready), then the
encryption section (uploads and GETs with and without blob encryption at rest).

python -m bench.run [--sections core,processing,tus,search,http,scan,encryption] [--runs 20]
    [--backends sqlite-local]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, Protocol, TypeVar

from rich.console import Console
from rich.markup import escape

from bench import (
    capacity,
    encryption,
    http_server,
    machine,
    processing,
    processing_report,
    report,
    scan,
    search,
    search_report,
    service,
    tus,
    tus_report,
)
from bench.backends import BACKENDS
from bench.core import BackendResult, Config, run_backend
from bench.fixtures import make_jpeg
from bench.wrk import WrkConfig

RESULTS_DIR = Path(__file__).resolve().parent / "results"
LARGE_BYTES = 10_000_000
SMALL_BYTES = 200_000
SECTIONS = ("core", "processing", "tus", "search", "http", "scan", "encryption", "capacity")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--runs", type=int, default=20, help="timed uploads per path")
    parser.add_argument("--warmup-runs", type=int, default=2, help="untimed uploads first")
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="IMGHOST_WORKERS; processing: also pool and thumbor processes",
    )
    parser.add_argument("--nginx-workers", type=int, default=None, help="default: --workers")
    parser.add_argument("--threads", type=int, default=2, help="wrk -t")
    parser.add_argument("--connections", type=int, default=16, help="wrk -c")
    parser.add_argument("--duration", type=int, default=10, help="wrk -d, seconds")
    parser.add_argument("--warmup", type=int, default=2, help="wrk warm-up, seconds")
    parser.add_argument(
        "--backends",
        default=",".join(BACKENDS),
        help=f"comma-separated, from {', '.join(BACKENDS)}",
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="where JSON goes")
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated, from {', '.join(SECTIONS)}, run in that order",
    )
    defaults = processing.ProcessingConfig()
    group = parser.add_argument_group("processing section")
    group.add_argument(
        "--preset-runs", type=int, default=defaults.preset_runs, help="timed runs per image"
    )
    group.add_argument(
        "--transform-sizes",
        type=int,
        default=defaults.transform_sizes,
        help="on-demand widths per image (at most 19: the service allows 20 per minute)",
    )
    group.add_argument(
        "--rounds",
        type=int,
        default=defaults.rounds,
        help="throughput with all presets: times each image is processed",
    )
    group.add_argument(
        "--single-rounds",
        type=int,
        default=defaults.single_rounds,
        help="throughput of the thumb JPEG alone: times each image is processed",
    )
    group.add_argument(
        "--thumbor-concurrency",
        type=int,
        default=defaults.thumbor_concurrency,
        help="requests in flight to thumbor",
    )
    tus_defaults = tus.TusConfig()
    group = parser.add_argument_group("tus section")
    group.add_argument(
        "--tus-runs",
        type=int,
        default=tus_defaults.runs,
        help="rounds of the ~200 MB upload per path (medians reported)",
    )
    group.add_argument(
        "--tus-chunks",
        default=",".join(str(c) for c in tus_defaults.chunks_mib),
        help="PATCH sizes in MiB, comma-separated",
    )
    group.add_argument(
        "--tus-rss-mib",
        type=int,
        default=tus_defaults.rss_mib,
        help="size of the upload during which the API process's RSS is sampled, MiB",
    )
    search_defaults = search.SearchConfig()
    group = parser.add_argument_group("search section")
    group.add_argument(
        "--search-images",
        type=int,
        default=None,
        help=f"images seeded into PostgreSQL ({search_defaults.images:,}); SQLite gets a tenth",
    )
    group.add_argument(
        "--search-queries",
        type=int,
        default=None,
        help=f"timed calls per query kind ({search_defaults.queries})",
    )
    group.add_argument(
        "--search-smoke",
        action="store_true",
        help=f"a quick run: {search.SMOKE_IMAGES:,} images, {search.SMOKE_QUERIES} queries "
        "per kind (unless given)",
    )
    group = parser.add_argument_group("scan section")
    group.add_argument(
        "--scan-runs", type=int, default=5, help="scans and uploads per file size (median)"
    )
    group = parser.add_argument_group("http section")
    group.add_argument(
        "--http-rounds",
        type=int,
        default=http_server.HttpServerConfig().rounds,
        help="rounds of every HTTP server variant (medians reported)",
    )
    group = parser.add_argument_group("capacity section")
    group.add_argument(
        "--capacity-rounds",
        type=int,
        default=capacity.CapacityConfig().rounds,
        help="wrk rounds per route kind (medians reported)",
    )
    enc_defaults = encryption.EncryptionConfig()
    group = parser.add_argument_group("encryption section")
    group.add_argument(
        "--encryption-rounds",
        type=int,
        default=enc_defaults.rounds,
        help="interleaved rounds (uploads, one tus upload, one wrk run per target) per service",
    )
    group.add_argument(
        "--encryption-uploads",
        type=int,
        default=enc_defaults.uploads_per_round,
        help="timed 10 MB direct uploads per service and round",
    )
    group.add_argument(
        "--encryption-duration",
        type=int,
        default=enc_defaults.load.duration,
        help="wrk -d per run, seconds",
    )
    group.add_argument(
        "--encryption-backend",
        choices=BACKENDS,
        default=enc_defaults.backend,
        help="the combination both services run on",
    )
    args = parser.parse_args(argv)
    if args.search_images is None:
        args.search_images = search.SMOKE_IMAGES if args.search_smoke else search_defaults.images
    if args.search_queries is None:
        args.search_queries = search.SMOKE_QUERIES if args.search_smoke else search_defaults.queries
    if args.search_images < 1_000:
        parser.error("--search-images must be at least 1000")
    if args.search_queries < 1:
        parser.error("--search-queries must be at least 1")
    try:
        args.tus_chunks = tuple(int(c) for c in args.tus_chunks.split(",") if c.strip())
    except ValueError:
        parser.error("--tus-chunks: whole MiB, comma-separated")
    if not args.tus_chunks or min(args.tus_chunks) < 1:
        parser.error("--tus-chunks: at least one size, each at least 1 MiB")
    args.sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown_sections = sorted(set(args.sections) - set(SECTIONS))
    if unknown_sections or not args.sections:
        parser.error(f"--sections: choose from {', '.join(SECTIONS)}")
    args.sections = [s for s in SECTIONS if s in args.sections]
    for name in (
        "preset_runs",
        "transform_sizes",
        "rounds",
        "single_rounds",
        "tus_runs",
        "http_rounds",
        "scan_runs",
        "encryption_rounds",
        "encryption_uploads",
        "encryption_duration",
    ):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.transform_sizes > 19:
        parser.error("--transform-sizes: the service allows 20 new sizes per image per minute")
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(args.backends) - set(BACKENDS))
    if unknown:
        parser.error(f"unknown backend(s) {', '.join(unknown)}; choose from {', '.join(BACKENDS)}")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # SystemExit unwinds through every `finally`, so every server is stopped.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    console = Console()
    if not console.is_terminal:  # piped or logged: wide enough that tables do not wrap
        console = Console(width=150)
    ok = True
    started = dt.datetime.now(dt.UTC)
    args.written = {}  # section → its JSON file, filled in by _write
    # A run that stops half-way leaves no manifest: `make bench` then leaves
    # bench/RESULTS.md alone instead of writing it again from an older run.
    (args.out / "run-latest.json").unlink(missing_ok=True)
    if "core" in args.sections:
        ok = run_core(args, console) and ok
    if "processing" in args.sections:
        ok = run_processing(args, console) and ok
    if "tus" in args.sections:
        ok = run_tus(args, console) and ok
    if "search" in args.sections:
        ok = run_search(args, console) and ok
    if "http" in args.sections:
        ok = run_http(args, console) and ok
    if "scan" in args.sections:
        ok = run_scan(args, console) and ok
    if "encryption" in args.sections:
        ok = run_encryption(args, console) and ok
    if "capacity" in args.sections:
        ok = run_capacity(args, console) and ok
    _write_run(args, console, started, ok, argv if argv is not None else sys.argv[1:])
    return 0 if ok else 1


def _write_run(
    args: argparse.Namespace, console: Console, started: dt.datetime, ok: bool, argv: list[str]
) -> None:
    """Write ``run-<stamp>.json`` and ``run-latest.json``: which sections this run
    measured and their files, so ``python -m bench.results_md`` renders one run's
    figures together, not the latest file of each section from different runs."""
    document: dict[str, object] = {
        "benchmark": "run",
        "schema_version": 1,
        "ok": ok,
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "arguments": argv,
        "sections": args.sections,
        "complete": args.sections == list(SECTIONS),
        "files": args.written,
    }
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    paths = report.write_json(args.out, stamp, document, prefix="run")
    console.print(f"run: {paths[-1]}")


def run_scan(args: argparse.Namespace, console: Console) -> bool:
    started = dt.datetime.now(dt.UTC)
    clock = time.perf_counter()
    info = machine.describe()
    console.rule("[bold]scan[/bold]")
    console.print(f"[bold]imghost scan benchmark[/bold] — {escape(_facts(info))}")
    with console.status("scanning"):
        result = scan.run(runs=args.scan_runs)
    console.print(f"clamd: {escape(result.clamd_version)} (the tests' signature database)")
    scan.print_section(console, result)
    _write(args, console, "scan", started, clock, result.ok, {"machine": info, **result.as_json()})
    return result.ok


def run_encryption(args: argparse.Namespace, console: Console) -> bool:
    config = encryption.EncryptionConfig(
        rounds=args.encryption_rounds,
        uploads_per_round=args.encryption_uploads,
        warmup_uploads=args.warmup_runs,
        workers=args.workers,
        load=WrkConfig(
            threads=args.threads,
            connections=args.connections,
            duration=args.encryption_duration,
            warmup=min(args.warmup, 1),
        ),
        backend=args.encryption_backend,
    )
    return _measured(
        args,
        console,
        "encryption",
        config,
        lambda progress: encryption.run(config, progress),
        encryption.print_section,
    )


def run_capacity(args: argparse.Namespace, console: Console) -> bool:
    config = capacity.CapacityConfig(rounds=args.capacity_rounds)
    return _measured(
        args,
        console,
        "capacity",
        config,
        lambda progress: capacity.run(config, args.backends, progress),
        capacity.print_section,
    )


class _Measured(Protocol):
    @property
    def ok(self) -> bool: ...

    def as_json(self) -> dict[str, Any]: ...


class _Configured(Protocol):
    def as_json(self) -> dict[str, Any]: ...


R = TypeVar("R", bound=_Measured)


def _measured(
    args: argparse.Namespace,
    console: Console,
    name: str,
    config: _Configured,
    run: Callable[[Callable[[str], None]], R],
    print_section: Callable[[Console, R], None],
) -> bool:
    """A section that runs with a progress line, prints its tables and writes its
    JSON with the machine and its configuration."""
    started = dt.datetime.now(dt.UTC)
    clock = time.perf_counter()
    info = machine.describe()
    console.rule(f"[bold]{name}[/bold]")
    console.print(f"[bold]imghost {name} benchmark[/bold] — {escape(_facts(info))}")
    with console.status(name) as status:
        result = run(lambda what: status.update(escape(what)))
    print_section(console, result)
    _write(
        args,
        console,
        name,
        started,
        clock,
        result.ok,
        {
            "machine": {**info, "load_average_end": [round(v, 2) for v in os.getloadavg()]},
            "config": config.as_json(),
            **result.as_json(),
        },
    )
    if not result.ok:
        console.print(f"[red]some {name} checks failed or a figure could not be measured[/red]")
    return result.ok


def run_core(args: argparse.Namespace, console: Console) -> bool:
    config = Config(
        runs=args.runs,
        warmup_runs=args.warmup_runs,
        workers=args.workers,
        nginx_workers=args.nginx_workers or args.workers,
        wrk=WrkConfig(
            threads=args.threads,
            connections=args.connections,
            duration=args.duration,
            warmup=args.warmup,
        ),
    )
    started = dt.datetime.now(dt.UTC)
    clock = time.perf_counter()
    info = machine.describe()
    facts = (
        f"{info['cpu_count']} CPUs ({info['cpu_model']}), load {info['load_average']}, "
        f"Python {info['python']}, {info['wrk']}, {info['nginx']}, "
        f"commit {machine.git_commit()['commit']!s:.12}"
    )
    console.print(f"[bold]imghost core benchmark[/bold] — {escape(facts)}")
    console.print(
        f"imghost runs with IMGHOST_WORKERS={config.workers}; nginx with "
        f"{config.nginx_workers} worker processes; wrk, the server and the client share "
        "this machine."
    )

    with console.status("generating fixtures"):
        large = make_jpeg(LARGE_BYTES, 4000, 3000)
        small = make_jpeg(SMALL_BYTES, 640, 480)
    console.print(
        f"fixtures: {large.size:,} B JPEG {large.width}×{large.height} q{large.quality}; "
        f"{small.size:,} B JPEG {small.width}×{small.height} q{small.quality}"
    )

    results: list[BackendResult] = []
    for name in args.backends:
        with console.status(f"measuring {name}"):
            result = run_backend(name, config, large, small)
        results.append(result)
        report.print_backend(console, result, config, large, small)

    console.rule()
    console.print(report.summary_table(results, config))
    ok = all(r.ok for r in results)
    _write(
        args,
        console,
        "core",
        started,
        clock,
        ok,
        {
            "machine": info,
            "config": config.as_json(),
            "fixtures": {"large": large.as_json(), "small": small.as_json()},
            "backends": {r.name: r.as_json(large) for r in results},
        },
    )
    if not ok:
        console.print("[red]some checks failed or a backend could not be measured[/red]")
    return ok


def run_processing(args: argparse.Namespace, console: Console) -> bool:
    config = processing.ProcessingConfig(
        preset_runs=args.preset_runs,
        transform_sizes=args.transform_sizes,
        workers=args.workers,
        rounds=args.rounds,
        single_rounds=args.single_rounds,
        thumbor_concurrency=args.thumbor_concurrency,
    )
    started = dt.datetime.now(dt.UTC)
    clock = time.perf_counter()
    info = machine.describe()
    imaging = processing.imaging_versions()
    console.rule("[bold]processing[/bold]")
    console.print(
        f"[bold]imghost processing benchmark[/bold] — {escape(_facts(info))}; "
        f"Pillow {imaging['pillow']}, pillow-heif {imaging['pillow_heif']} "
        f"(libheif {imaging['libheif']}), libjpeg-turbo {imaging['libjpeg_turbo']}, "
        f"libwebp {imaging['libwebp']}"
    )
    with console.status("processing") as status:
        result = processing.run(config, lambda what: status.update(what))
    if result.images:
        console.print(
            "images: " + "; ".join(escape(f"{i.key} {i.describe()}") for i in result.images)
        )
    processing_report.print_section(console, result)
    _write(
        args,
        console,
        "processing",
        started,
        clock,
        result.ok,
        {
            "machine": {
                **info,
                "load_average_end": [round(v, 2) for v in os.getloadavg()],
                "imaging": imaging,
            },
            "config": config.as_json(),
            **result.as_json(),
        },
    )
    if not result.ok:
        console.print("[red]some processing checks failed or a part could not be measured[/red]")
    return result.ok


def run_tus(args: argparse.Namespace, console: Console) -> bool:
    config = tus.TusConfig(runs=args.tus_runs, chunks_mib=args.tus_chunks, rss_mib=args.tus_rss_mib)
    started = dt.datetime.now(dt.UTC)
    clock = time.perf_counter()
    info = machine.describe()
    console.rule("[bold]tus[/bold]")
    console.print(f"[bold]imghost tus benchmark[/bold] — {escape(_facts(info))}")
    with console.status("tus") as status:
        result = tus.run(config, args.backends, lambda what: status.update(what))
    if result.image:
        console.print(f"image: {escape(tus.describe_image(result.image))}")
    tus_report.print_section(console, result)
    _write(
        args,
        console,
        "tus",
        started,
        clock,
        result.ok,
        {
            "machine": {**info, "load_average_end": [round(v, 2) for v in os.getloadavg()]},
            "config": config.as_json(),
            **result.as_json(),
        },
    )
    if not result.ok:
        console.print("[red]some tus checks failed or a backend could not be measured[/red]")
    return result.ok


def run_search(args: argparse.Namespace, console: Console) -> bool:
    databases = tuple(d for name, d in search.FROM_BACKENDS.items() if name in args.backends)
    config = search.SearchConfig(
        images=args.search_images, queries=args.search_queries, databases=databases
    )
    started = dt.datetime.now(dt.UTC)
    clock = time.perf_counter()
    info = machine.describe()
    console.rule("[bold]search[/bold]")
    console.print(f"[bold]imghost search benchmark[/bold] — {escape(_facts(info))}")
    with console.status("search") as status:
        result = search.run(config, lambda what: status.update(escape(what)))
    console.print(f"vocabulary: {escape(result.vocabulary)}")
    search_report.print_section(console, result)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    explained = search_report.write_explain(args.out, stamp, result)
    if explained:
        console.print(f"EXPLAIN: {', '.join(str(p) for p in explained)}")
    _write(
        args,
        console,
        "search",
        started,
        clock,
        result.ok,
        {
            "machine": {**info, "load_average_end": [round(v, 2) for v in os.getloadavg()]},
            "config": config.as_json(),
            "explain_files": [p.name for p in explained],
            **result.as_json(),
        },
    )
    if not result.ok:
        console.print("[red]some search checks failed or a database could not be measured[/red]")
    return result.ok


def run_http(args: argparse.Namespace, console: Console) -> bool:
    config = http_server.HttpServerConfig(rounds=args.http_rounds)
    started = dt.datetime.now(dt.UTC)
    clock = time.perf_counter()
    info = machine.describe()
    console.rule("[bold]http[/bold]")
    console.print(f"[bold]imghost HTTP server benchmark[/bold] — {escape(_facts(info))}")
    with console.status("http") as status:
        result = http_server.run(config, lambda what: status.update(escape(what)))
    console.print(http_server.protocol_table(result))
    console.print(http_server.table(result))
    _write(
        args,
        console,
        "http",
        started,
        clock,
        result.ok,
        {
            "machine": {**info, "load_average_end": [round(v, 2) for v in os.getloadavg()]},
            "config": config.as_json(),
            **result.as_json(),
        },
    )
    if not result.ok:
        console.print(f"[red]some http checks failed: {escape(str(result.error))}[/red]")
    return result.ok


def _write(
    args: argparse.Namespace,
    console: Console,
    name: str,
    started: dt.datetime,
    clock: float,
    ok: bool,
    body: dict[str, object],
) -> None:
    """Write the section's JSON document (``body`` after the common fields)."""
    document: dict[str, object] = {
        "benchmark": name,
        "schema_version": 1,
        "ok": ok,
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "duration_s": round(time.perf_counter() - clock, 1),
        # The limits lifted on every service the benchmark starts (bench/service.py).
        "imghost_room": service.ROOM,
        **body,
    }
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    paths = report.write_json(args.out, stamp, document, prefix=name)
    args.written[name] = paths[0].name
    console.print(f"results: {', '.join(str(p) for p in paths)} ({document['duration_s']} s)")


def _facts(info: dict[str, object]) -> str:
    return (
        f"{info['cpu_count']} CPUs ({info['cpu_model']}), load {info['load_average']}, "
        f"Python {info['python']}, commit {machine.git_commit()['commit']!s:.12}"
    )


if __name__ == "__main__":
    sys.exit(main())
