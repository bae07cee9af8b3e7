"""One backend combination, measured end to end against a real `imghost serve`."""

from __future__ import annotations

import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import backends, delivery, service, uploads
from bench.checks import Checks
from bench.fixtures import JpegFixture
from bench.wrk import WrkConfig


@dataclass(frozen=True)
class Config:
    runs: int = 20
    warmup_runs: int = 2
    workers: int = 2
    nginx_workers: int = 2
    wrk: WrkConfig = field(default_factory=WrkConfig)

    def as_json(self) -> dict[str, object]:
        return {
            "upload_runs": self.runs,
            "upload_warmup_runs": self.warmup_runs,
            "imghost_workers": self.workers,
            "nginx_workers": self.nginx_workers,
            "wrk": {
                "threads": self.wrk.threads,
                "connections": self.wrk.connections,
                "duration_s": self.wrk.duration,
                "warmup_s": self.wrk.warmup,
                "command": self.wrk.command("URL"),
            },
        }


@dataclass
class BackendResult:
    name: str
    description: str = ""
    checks: Checks = field(default_factory=Checks)
    direct: uploads.PathResult | None = None
    presigned: uploads.PathResult | None = None
    get: delivery.GetResult | None = None
    error: str | None = None
    traceback: str | None = None
    log_tail: str | None = None  # the end of imghost's log, when something failed
    phases_s: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and self.checks.ok

    def as_json(self, large: JpegFixture) -> dict[str, object]:
        return {
            "description": self.description,
            "ok": self.ok,
            "error": self.error,
            "traceback": self.traceback,
            "imghost_log_tail": self.log_tail,
            "uploads": {
                "image_bytes": large.size,
                "direct": self.direct.as_json(large.size) if self.direct else None,
                "presigned": self.presigned.as_json(large.size) if self.presigned else None,
            },
            "get": self.get.as_json() if self.get else None,
            "checks": self.checks.as_json(),
            "phases_s": {k: round(v, 1) for k, v in self.phases_s.items()},
        }


class _Phases:
    def __init__(self, into: dict[str, float]) -> None:
        self.into = into
        self.last = time.perf_counter()

    def mark(self, name: str) -> None:
        now = time.perf_counter()
        self.into[name] = now - self.last
        self.last = now


def run_backend(name: str, config: Config, large: JpegFixture, small: JpegFixture) -> BackendResult:
    """Measure one combination; errors are recorded, never raised (Ctrl-C still is)."""
    result = BackendResult(name)
    phases = _Phases(result.phases_s)
    svc: service.Service | None = None
    with tempfile.TemporaryDirectory(prefix=f"imghost-bench-{name}-") as tmp:
        workdir = Path(tmp)
        try:
            with backends.opened(name, workdir) as backend:
                result.description = backend.description
                phases.mark("start_backend")
                with service.running(
                    database_url=backend.database_url,
                    storage_url=backend.storage_url,
                    workdir=workdir,
                    workers=config.workers,
                ) as svc:
                    phases.mark("start_imghost")
                    _measure(svc, backend, config, large, small, result, phases)
        except Exception as exc:
            result.error = f"{type(exc).__name__}: {exc}"
            result.traceback = traceback.format_exc()
            if svc is not None:  # the service's own account of what went wrong
                result.log_tail = svc.log_tail()
    return result


def _measure(
    svc: service.Service,
    backend: backends.Backend,
    config: Config,
    large: JpegFixture,
    small: JpegFixture,
    result: BackendResult,
    phases: _Phases,
) -> None:
    with httpx.Client(base_url=svc.base_url, timeout=120.0) as client:
        token = service.sign_in(client)
        client.headers["Authorization"] = f"Bearer {token}"
        phases.mark("sign_in")

        result.direct = uploads.measure_direct(client, large.data, config.runs, config.warmup_runs)
        phases.mark("uploads_direct")
        result.presigned = uploads.measure_presigned(
            client, large.data, config.runs, config.warmup_runs
        )
        phases.mark("uploads_presigned")
        for label, path in (("direct", result.direct), ("presigned", result.presigned)):
            result.checks.get_returns(
                f"{large.size / 1e6:.1f} MB image uploaded {label}: GET returns the exact bytes",
                f"{svc.base_url}/images/{path.image_ids[0]}",
                large.data,
            )

        result.get = delivery.measure(
            svc, backend, client, small, config.wrk, result.checks, config.nginx_workers
        )
        phases.mark("get_throughput")
