"""The HTTP server, chosen by measurement: delivery and /healthz under each candidate.

One API process on SQLite + local files, rate limits off, serves the same public
~20 KB JPEG (``GET /images/{id}``) and ``/healthz`` under each server variant in
turn; wrk loads each for a few seconds, rounds interleave the variants (so that
a noisy neighbour costs every variant alike), and medians are compared with
plain uvicorn + httptools, the server imghost used before it bounded headers.

Besides requests/s, each run records the server process's CPU time per request
(user + system, from /proc, over the measured run only): on a machine whose
cores are shared, throughput swings with the neighbours' load, while the CPU a
request costs the server barely moves, so that is the figure to decide by.

Each variant runs in a subprocess started as ``python -m bench.http_server VARIANT``
with the service's environment.
"""

from __future__ import annotations

import contextlib
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench import http_protocol, wrk
from bench.checks import Checks
from bench.delivery import upload
from bench.fixtures import JpegFixture, make_jpeg
from bench.service import (
    Service,
    expect,
    running,
    sign_in,
    wait_healthy,
    wait_processed,
    worker_running,
)
from imghost.testing.servers import free_port

BASELINE = "uvicorn-httptools"
# name → what it is; the first is the baseline, the second what imghost serves with.
VARIANTS = {
    BASELINE: "uvicorn + httptools, no header limits (imghost before issue 14)",
    "imghost-httptools": "uvicorn + httptools + imghost.server's limits (the choice)",
    "uvicorn-h11": "uvicorn + h11, h11_max_incomplete_event_size=64 KiB (answers 400, not 431)",
}
# Measured when installed (not project dependencies: bench/README.md says how).
OPTIONAL = {
    "granian": "granian (Rust, hyper): ASGI, 1 worker, HTTP/1, header read timeout 10 s, "
    "max buffer 64 KiB",
    "hypercorn": "hypercorn (h11) on uvloop, h11_max_incomplete_size=64 KiB",
}
TARGETS = ("healthz", "image")
ALL = {**VARIANTS, **OPTIONAL}


def variants() -> dict[str, str]:
    """The candidates measured in this run: the three above, and the optional installed."""
    found = dict(VARIANTS)
    for name, description in OPTIONAL.items():
        if importlib.util.find_spec(name) is not None:
            found[name] = description
    return found


@dataclass(frozen=True)
class HttpServerConfig:
    rounds: int = 3
    wrk: wrk.WrkConfig = field(
        default_factory=lambda: wrk.WrkConfig(threads=2, connections=16, duration=3, warmup=1)
    )

    def as_json(self) -> dict[str, object]:
        return {
            "rounds": self.rounds,
            "processes": 1,
            "backend": "sqlite-local",
            "wrk": {
                "threads": self.wrk.threads,
                "connections": self.wrk.connections,
                "duration_s": self.wrk.duration,
                "warmup_s": self.wrk.warmup,
            },
        }


@dataclass
class HttpServerResult:
    image_bytes: int = 0
    # variant → target → one WrkResult per round
    runs: dict[str, dict[str, list[wrk.WrkResult]]] = field(default_factory=dict)
    # variant → target → the server's CPU microseconds per request, one per round
    cpu_us: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    checks: Checks = field(default_factory=Checks)
    protocol: http_protocol.ProtocolResult | None = None
    error: str | None = None
    traceback: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.checks.ok

    def median_rps(self, variant: str, target: str) -> float | None:
        runs = self.runs.get(variant, {}).get(target, [])
        return statistics.median(r.requests_per_s for r in runs) if runs else None

    def median_latency(self, variant: str, target: str, pct: str) -> float | None:
        runs = self.runs.get(variant, {}).get(target, [])
        return statistics.median(r.latency_ms[pct] for r in runs) if runs else None

    def median_cpu_us(self, variant: str, target: str) -> float | None:
        samples = self.cpu_us.get(variant, {}).get(target, [])
        return statistics.median(samples) if samples else None

    def ratio(self, variant: str, target: str) -> float | None:
        mine, base = self.median_rps(variant, target), self.median_rps(BASELINE, target)
        return mine / base if mine and base else None

    def cpu_ratio(self, variant: str, target: str) -> float | None:
        mine, base = self.median_cpu_us(variant, target), self.median_cpu_us(BASELINE, target)
        return mine / base if mine and base else None

    def as_json(self) -> dict[str, object]:
        summary = {
            variant: {
                target: {
                    "median_requests_per_s": self.median_rps(variant, target),
                    "median_p50_ms": self.median_latency(variant, target, "50"),
                    "median_p99_ms": self.median_latency(variant, target, "99"),
                    f"ratio_to_{BASELINE}": _round(self.ratio(variant, target)),
                    "median_cpu_us_per_request": _round(self.median_cpu_us(variant, target)),
                    f"cpu_ratio_to_{BASELINE}": _round(self.cpu_ratio(variant, target)),
                    "cpu_us_per_request": [
                        round(v, 1) for v in self.cpu_us.get(variant, {}).get(target, [])
                    ],
                    "runs": [r.as_json() for r in self.runs.get(variant, {}).get(target, [])],
                }
                for target in TARGETS
            }
            for variant in self.runs
        }
        return {
            "variants": {name: ALL.get(name, "") for name in self.runs},
            "not_installed": sorted(set(OPTIONAL) - set(self.runs)),
            "image_bytes": self.image_bytes,
            "protocol_cpu": self.protocol.as_json() if self.protocol else None,
            "results": summary,
            "checks": self.checks.as_json(),
            "error": self.error,
            "traceback": self.traceback,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def run(config: HttpServerConfig, progress: Callable[[str], None]) -> HttpServerResult:
    """Measure every variant; errors are recorded, never raised (Ctrl-C still is)."""
    result = HttpServerResult()
    progress("protocol cost per request, in process")
    result.protocol = http_protocol.run()
    image = make_jpeg(20_000, 160, 120)
    result.image_bytes = image.size
    with tempfile.TemporaryDirectory(prefix="imghost-bench-http-") as tmp:
        workdir = Path(tmp)
        try:
            progress("upload and process the image")
            image_id, env = _prepare(workdir, image)
            names = list(variants())
            for round_no in range(config.rounds):
                # Rotate the order each round: no variant always runs first or last.
                order = names[round_no % len(names) :] + names[: round_no % len(names)]
                for variant in order:
                    progress(f"round {round_no + 1}/{config.rounds}: {variant}")
                    with _serving(variant, env, workdir) as svc:
                        urls = {
                            "healthz": f"{svc.base_url}/healthz",
                            "image": f"{svc.base_url}/images/{image_id}",
                        }
                        if round_no == 0:
                            result.checks.get_returns(
                                f"{variant}: GET /images/{{id}} returns the exact bytes",
                                urls["image"],
                                image.data,
                            )
                        server = psutil.Process(svc.proc.pid)
                        for target in TARGETS:
                            # Warm up apart, so that the CPU counted is the measured run's.
                            warm = replace(config.wrk, duration=config.wrk.warmup)
                            wrk.run(urls[target], warm, warm_up=False)
                            before = _cpu_seconds(server)
                            measured = wrk.run(urls[target], config.wrk, warm_up=False)
                            used = _cpu_seconds(server) - before
                            result.cpu_us.setdefault(variant, {}).setdefault(target, []).append(
                                used / max(1, measured.requests) * 1e6
                            )
                            result.checks.add(
                                f"{variant} {target} round {round_no + 1}: no errors",
                                measured.errors == 0,
                                f"{measured.requests} requests, {measured.errors} errors",
                            )
                            result.runs.setdefault(variant, {}).setdefault(target, []).append(
                                measured
                            )
        except Exception as exc:
            result.error = f"{type(exc).__name__}: {exc}"
            result.traceback = traceback.format_exc()
    return result


def _cpu_seconds(process: psutil.Process) -> float:
    """User + system CPU of the process and its children (granian serves in a child)."""
    total = 0.0
    for member in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            times = member.cpu_times()
            total += times.user + times.system
    return total


def _prepare(workdir: Path, image: JpegFixture) -> tuple[str, dict[str, str]]:
    """Upload the image as public through `imghost serve`, let a worker process it."""
    database_url = f"sqlite+aiosqlite:///{workdir / 'imghost.db'}"
    storage_url = f"file://{workdir / 'blobs'}"
    with running(
        database_url=database_url, storage_url=storage_url, workdir=workdir, workers=1
    ) as svc:
        with httpx.Client(base_url=svc.base_url, timeout=60) as client:
            client.headers["Authorization"] = f"Bearer {sign_in(client)}"
            image_id = upload(client, image)
            with worker_running(svc, workdir) as worker:
                status = wait_processed(client, [image_id], worker)[image_id]
            if status != "ready":
                raise RuntimeError(f"the image was not processed: {status}")
            expect(httpx.get(f"{svc.base_url}/images/{image_id}"), 200, "anonymous GET")
        env = {**svc.env, "IMGHOST_AUTO_MIGRATE": "false"}
    return image_id, env


@contextlib.contextmanager
def _serving(variant: str, env: dict[str, str], workdir: Path) -> Iterator[Service]:
    port = free_port()
    env = {**env, "IMGHOST_PORT": str(port)}
    log_path = workdir / f"{variant}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.http_server", variant],
            env=env,
            cwd=Path(__file__).resolve().parent.parent,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    svc = Service(proc=proc, log_path=log_path, port=port, workers=1, env=env)
    try:
        wait_healthy(svc)
        yield svc
    finally:
        svc.stop()


def _serve(variant: str) -> None:
    """The subprocess: the app from the environment under ``variant``."""
    import uvicorn

    from imghost.app import create_app
    from imghost.server import build_config
    from imghost.settings import Settings

    settings = Settings.from_env()
    app = create_app(settings)
    common: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": "warning",
        "access_log": False,
        "lifespan": "on",
    }
    config: uvicorn.Config
    if variant == "imghost-httptools":
        config = build_config(settings, app, **common)
    elif variant == BASELINE:
        config = uvicorn.Config(app, http="httptools", **common)
    elif variant == "uvicorn-h11":
        config = uvicorn.Config(
            app, http="h11", h11_max_incomplete_event_size=settings.max_header_bytes, **common
        )
    elif variant == "granian":
        _serve_granian(settings)
        return
    elif variant == "hypercorn":
        _serve_hypercorn(settings, app)
        return
    else:
        raise SystemExit(f"unknown variant {variant!r}; choose from {', '.join(ALL)}")
    uvicorn.Server(config).run()


def _serve_granian(settings: Any) -> None:
    from granian import Granian  # type: ignore[import-not-found, unused-ignore]
    from granian.http import HTTP1Settings  # type: ignore[import-not-found, unused-ignore]

    Granian(
        "imghost.app:create_app",
        factory=True,
        address=settings.host,
        port=settings.port,
        interface="asgi",
        workers=1,
        http="1",
        http1_settings=HTTP1Settings(
            header_read_timeout=int(settings.header_timeout * 1000),
            max_buffer_size=settings.max_header_bytes,
        ),
        log_level="warning",
    ).serve()


def _serve_hypercorn(settings: Any, app: Any) -> None:
    import uvloop
    from hypercorn.asyncio import serve  # type: ignore[import-not-found, unused-ignore]
    from hypercorn.config import Config  # type: ignore[import-not-found, unused-ignore]

    config = Config()
    config.bind = [f"{settings.host}:{settings.port}"]
    config.h11_max_incomplete_size = settings.max_header_bytes
    config.keep_alive_timeout = settings.keepalive_timeout
    config.loglevel = "WARNING"
    uvloop.run(serve(app, config))


def protocol_table(result: HttpServerResult) -> Any:
    """The in-process protocol cost, the figure the choice rests on."""
    from rich.table import Table

    out = Table(
        title="HTTP protocol alone: CPU µs per keep-alive request "
        f"({len(http_protocol.REQUEST)} B head), in process, median of repeats"
    )
    out.add_column("protocol")
    out.add_column("CPU µs/req", justify="right")
    out.add_column("ratio", justify="right")
    if result.protocol is not None:
        for name in result.protocol.cpu_us:
            out.add_row(
                name, f"{result.protocol.median(name):.1f}", f"{result.protocol.ratio(name):.2f}"
            )
    return out


def table(result: HttpServerResult) -> Any:
    """Medians per variant and target, with the ratio to the baseline."""
    from rich.table import Table

    out = Table(
        title="HTTP server: medians of rounds; ratios to plain uvicorn + httptools "
        "(CPU µs = the server's CPU time per request: lower is better)"
    )
    out.add_column("server")
    for target in TARGETS:
        label = (
            "GET /healthz"
            if target == "healthz"
            else f"GET /images/{{id}} ({result.image_bytes:,} B)"
        )
        out.add_column(f"{label} req/s", justify="right")
        out.add_column("ratio", justify="right")
        out.add_column("p50 / p99 ms", justify="right")
        out.add_column("CPU µs/req", justify="right")
        out.add_column("ratio", justify="right")
    for variant in result.runs:
        cells = [variant]
        for target in TARGETS:
            rps = result.median_rps(variant, target)
            ratio = result.ratio(variant, target)
            p50 = result.median_latency(variant, target, "50")
            p99 = result.median_latency(variant, target, "99")
            cpu = result.median_cpu_us(variant, target)
            cpu_ratio = result.cpu_ratio(variant, target)
            cells += [
                "-" if rps is None else f"{rps:,.0f}",
                "-" if ratio is None else f"{ratio:.2f}",
                "-" if p50 is None or p99 is None else f"{p50:.1f} / {p99:.1f}",
                "-" if cpu is None else f"{cpu:,.0f}",
                "-" if cpu_ratio is None else f"{cpu_ratio:.2f}",
            ]
        out.add_row(*cells)
    return out


if __name__ == "__main__":
    _serve(sys.argv[1])
