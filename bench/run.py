"""`make bench`: upload latency and GET throughput on every backend combination.

python -m bench.run [--runs 20] [--duration 10] [--backends sqlite-local,postgres-s3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from rich.console import Console
from rich.markup import escape

from bench import machine, report
from bench.backends import BACKENDS
from bench.core import BackendResult, Config, run_backend
from bench.fixtures import make_jpeg
from bench.wrk import WrkConfig

RESULTS_DIR = Path(__file__).resolve().parent / "results"
LARGE_BYTES = 10_000_000
SMALL_BYTES = 200_000


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--runs", type=int, default=20, help="timed uploads per path")
    parser.add_argument("--warmup-runs", type=int, default=2, help="untimed uploads first")
    parser.add_argument("--workers", type=int, default=2, help="IMGHOST_WORKERS")
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
    args = parser.parse_args(argv)
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
    finished = dt.datetime.now(dt.UTC)
    document: dict[str, object] = {
        "benchmark": "core",
        "schema_version": 1,
        "ok": all(r.ok for r in results),
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": finished.isoformat(timespec="seconds"),
        "duration_s": round(time.perf_counter() - clock, 1),
        "machine": info,
        "config": config.as_json(),
        "fixtures": {"large": large.as_json(), "small": small.as_json()},
        "backends": {r.name: r.as_json(large) for r in results},
    }
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    paths = report.write_json(args.out, stamp, document)
    console.print(f"results: {', '.join(str(p) for p in paths)} ({document['duration_s']} s)")
    if not document["ok"]:
        console.print("[red]some checks failed or a backend could not be measured[/red]")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
