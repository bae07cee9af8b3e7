"""The capacity section's load part: one `imghost serve` process, loaded by route kind.

wrk repeats each read (views, metadata, listing, search) for a few seconds;
rounds interleave the kinds, so that a noisy neighbour costs each kind alike,
and medians are reported. Uploads (a direct multipart POST and a tus creation +
PATCH of a phone photo) are sent with httpx from two threads. Besides
requests/s, each run records the API process's CPU time per request (user +
system, from /proc): on cores shared with wrk, PostgreSQL and other work,
throughput swings with the neighbours while the CPU a request costs barely
moves, so req/s per core (10⁶ ÷ CPU µs) is the figure the model scales by.
"""

from __future__ import annotations

import base64
import contextlib
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import httpx
import psutil

from bench import wrk
from bench.capacity_inproc import Photo, Seed
from bench.checks import Checks
from bench.service import Service, expect

UPLOAD_KINDS = ("upload_direct", "upload_tus")
UPLOAD_THREADS = 2


@dataclass
class KindRuns:
    """One route kind's runs: requests/s and the API process's CPU µs per request."""

    rps: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)
    p50_ms: list[float] = field(default_factory=list)
    p99_ms: list[float] = field(default_factory=list)
    # PostgreSQL's CPU µs per request (the postmaster and its backends), when it runs.
    db_cpu_us: list[float] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        cpu = statistics.median(self.cpu_us) if self.cpu_us else None
        db = statistics.median(self.db_cpu_us) if self.db_cpu_us else None
        return {
            "median_requests_per_s": round(statistics.median(self.rps), 2) if self.rps else None,
            "median_cpu_us_per_request": round(cpu, 1) if cpu else None,
            # What one fully busy core of API process would answer.
            "requests_per_core_s": round(1e6 / cpu, 1) if cpu else None,
            "median_p50_ms": round(statistics.median(self.p50_ms), 2) if self.p50_ms else None,
            "median_p99_ms": round(statistics.median(self.p99_ms), 2) if self.p99_ms else None,
            "median_db_cpu_us_per_request": round(db, 1) if db is not None else None,
            "requests_per_s": [round(v, 2) for v in self.rps],
            "cpu_us_per_request": [round(v, 1) for v in self.cpu_us],
            "db_cpu_us_per_request": [round(v, 1) for v in self.db_cpu_us],
        }


@dataclass(frozen=True)
class Meter:
    """The CPU of the API process and, when there is one, of PostgreSQL."""

    api_pid: int
    db_pid: int | None

    def read(self) -> tuple[float, float]:
        return cpu_seconds(self.api_pid), cpu_seconds(self.db_pid) if self.db_pid else 0.0

    def record(self, entry: KindRuns, before: tuple[float, float], requests: int) -> None:
        api, db = self.read()
        entry.cpu_us.append((api - before[0]) / max(1, requests) * 1e6)
        if self.db_pid:
            entry.db_cpu_us.append((db - before[1]) / max(1, requests) * 1e6)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the process and its children (its pixel processes)."""
    root = psutil.Process(pid)
    total = 0.0
    for member in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            times = member.cpu_times()
            total += times.user + times.system
    return total


def load_reads(
    service: Service,
    meter: Meter,
    seed: Seed,
    config: wrk.WrkConfig,
    rounds: int,
    checks: Checks,
    progress: Callable[[str], None],
) -> dict[str, KindRuns]:
    runs: dict[str, KindRuns] = {}
    kinds = seed.kinds()
    names = list(kinds)
    for round_no in range(rounds):
        # Rotate the order each round: no kind always runs first or last.
        order = names[round_no % len(names) :] + names[: round_no % len(names)]
        for kind in order:
            progress(f"wrk round {round_no + 1}/{rounds}: {kind}")
            path, headers = kinds[kind]
            url = service.base_url + path
            header_lines = [f"{k}: {v}" for k, v in headers.items()]
            if round_no == 0:
                expect(httpx.get(url, headers=headers, timeout=30), 200, f"GET {kind}")
                warm = replace(config, duration=config.warmup)
                wrk.run(url, warm, warm_up=False, headers=header_lines)
            before = meter.read()
            measured = wrk.run(url, config, warm_up=False, headers=header_lines)
            entry = runs.setdefault(kind, KindRuns())
            meter.record(entry, before, measured.requests)
            checks.add(
                f"{kind} round {round_no + 1}: no errors",
                measured.errors == 0 and measured.requests > 0,
                f"{measured.requests} requests, {measured.errors} errors",
            )
            entry.rps.append(measured.requests_per_s)
            entry.p50_ms.append(measured.p50_ms)
            entry.p99_ms.append(measured.p99_ms)
    return runs


def _direct(client: httpx.Client, photo: Photo, data: bytes) -> None:
    expect(
        client.post(
            "/v1/images",
            data={"allowDuplicate": "true"},
            files={"file": (photo.path.name, data, photo.content_type)},
        ),
        201,
        "direct upload",
    )


def _tus(client: httpx.Client, photo: Photo, data: bytes) -> None:
    meta = ",".join(
        f"{k} {base64.b64encode(v.encode()).decode()}"
        for k, v in (("filename", photo.path.name), ("allowDuplicate", "true"))
    )
    tus = {"Tus-Resumable": "1.0.0"}
    created = expect(
        client.post(
            "/v1/tus/", headers={**tus, "Upload-Length": str(len(data)), "Upload-Metadata": meta}
        ),
        201,
        "tus create",
    )
    expect(
        client.patch(
            created.headers["location"],
            headers={
                **tus,
                "Content-Type": "application/offset+octet-stream",
                "Upload-Offset": "0",
            },
            content=data,
        ),
        204,
        "tus PATCH",
    )


def load_uploads(
    service: Service,
    meter: Meter,
    seed: Seed,
    photo: Photo,
    rounds: int,
    per_round: int,
    checks: Checks,
    progress: Callable[[str], None],
) -> dict[str, KindRuns]:
    """``per_round`` uploads of each kind per round, from ``UPLOAD_THREADS`` threads."""
    data = photo.path.read_bytes()
    senders = {"upload_direct": _direct, "upload_tus": _tus}
    runs: dict[str, KindRuns] = {}
    headers = {"Authorization": f"Bearer {seed.token}"}
    with contextlib.ExitStack() as stack:
        clients = [
            stack.enter_context(
                httpx.Client(base_url=service.base_url, headers=headers, timeout=120)
            )
            for _ in range(UPLOAD_THREADS)
        ]
        pool = stack.enter_context(ThreadPoolExecutor(UPLOAD_THREADS))
        for round_no in range(rounds):
            for kind in UPLOAD_KINDS:
                progress(f"uploads round {round_no + 1}/{rounds}: {kind}")
                send = senders[kind]
                if round_no == 0:
                    send(clients[0], photo, data)  # warm-up, untimed
                before, clock = meter.read(), time.perf_counter()
                futures = [
                    pool.submit(send, clients[i % UPLOAD_THREADS], photo, data)
                    for i in range(per_round)
                ]
                errors = [f.exception() for f in futures]
                wall = time.perf_counter() - clock
                entry = runs.setdefault(kind, KindRuns())
                meter.record(entry, before, per_round)
                failed = [str(e) for e in errors if e is not None]
                checks.add(
                    f"{kind} round {round_no + 1}: every upload accepted",
                    not failed,
                    f"{per_round} uploads"
                    + (f", {len(failed)} failed: {failed[0]}" if failed else ""),
                )
                entry.rps.append(per_round / wall)
    return runs
