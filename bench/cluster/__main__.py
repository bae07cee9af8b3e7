"""`make cluster` (python -m bench.cluster): start a cluster on loopback, measure
req/s with 1 and 2 API processes, run the chaos run under load, print the report
and write it to bench/results/cluster-<UTC timestamp>.json (and cluster-latest.json).
Everything started is stopped on exit, Ctrl-C included. Exits 1 when an end
condition of the chaos run failed."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import time
from pathlib import Path

from bench.cluster.report import render
from bench.cluster.run import CHAOS_SETTINGS, chaos_run
from bench.cluster.throughput import scaling
from imghost.testing.cluster import running

RESULTS = Path(__file__).resolve().parent.parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__)
    parser.add_argument("--api", type=int, default=2, help="API processes (N)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (M)")
    parser.add_argument("--duration", type=float, default=60, help="seconds of chaos-run load")
    parser.add_argument("--clients", type=int, default=32, help="concurrent load clients")
    parser.add_argument(
        "--measure", type=float, default=10, help="seconds per throughput figure (0: skip)"
    )
    args = parser.parse_args(argv)
    if args.api < 2 or args.workers < 1:
        parser.error("the chaos run needs at least 2 API processes and 1 worker")
    started = time.monotonic()
    report: dict[str, object] = {
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "api_processes": args.api,
        "workers": args.workers,
        "settings": CHAOS_SETTINGS,
    }
    print(f"starting the cluster: {args.api} API processes, {args.workers} workers", flush=True)
    with running(args.api, args.workers, settings=CHAOS_SETTINGS) as cluster:
        report["startup_s"] = round(time.monotonic() - started, 1)
        if args.measure > 0:
            print(f"measuring req/s with 1 and 2 API processes ({args.measure:g} s each)")
            report["scaling"] = asyncio.run(scaling(cluster, args.measure))
        print(f"chaos run: {args.clients} clients for {args.duration:g} s")
        result = asyncio.run(chaos_run(cluster, args.clients, args.duration))
        report["chaos"] = result.as_json()
    report["ok"] = result.ok
    print(render(report))
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(report, indent=2)
    (RESULTS / f"cluster-{stamp}.json").write_text(text)
    (RESULTS / "cluster-latest.json").write_text(text)
    print(f"written: bench/results/cluster-{stamp}.json")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
