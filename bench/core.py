"""One backend combination, measured end to end against a real `imghost serve`.

The service runs with its in-process worker off, so processing jobs do not
compete with the timed uploads. Uploads start as ``processing`` and anonymous
clients get 404 until a worker has made them ``ready``: before the GET phase a
separate `imghost worker` is started, waited for until the images the GETs use
are ready, and stopped again (its whole process group) before wrk starts.
"""

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
    worker_log_tail: str | None = None  # the end of `imghost worker`'s log, likewise
    processed: dict[str, dict[str, str]] = field(default_factory=dict)  # label → id, status
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
            "imghost_worker_log_tail": self.worker_log_tail,
            "uploads": {
                "image_bytes": large.size,
                "direct": self.direct.as_json(large.size) if self.direct else None,
                "presigned": self.presigned.as_json(large.size) if self.presigned else None,
            },
            "get": self.get.as_json() if self.get else None,
            "processed_before_get": self.processed,
            "checks": self.checks.as_json(),
            "phases_s": {k: round(v, 1) for k, v in self.phases_s.items()},
        }


class Phases:
    """Seconds between successive marks, recorded by name."""

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
    phases = Phases(result.phases_s)
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
                    _measure(svc, backend, workdir, config, large, small, result, phases)
        except Exception as exc:
            result.error = f"{type(exc).__name__}: {exc}"
            result.traceback = traceback.format_exc()
            if svc is not None:  # the service's own account of what went wrong
                result.log_tail = svc.log_tail()
            worker_log = workdir / "imghost-worker.log"
            if worker_log.exists():
                result.worker_log_tail = "\n".join(
                    worker_log.read_text(errors="replace").splitlines()[-30:]
                )
    return result


def _measure(
    svc: service.Service,
    backend: backends.Backend,
    workdir: Path,
    config: Config,
    large: JpegFixture,
    small: JpegFixture,
    result: BackendResult,
    phases: Phases,
) -> None:
    with httpx.Client(base_url=svc.base_url, timeout=120.0) as client:
        token = service.sign_in(client)
        client.headers["Authorization"] = f"Bearer {token}"
        phases.mark("sign_in")
        # Uploaded first so that its processing job is first in the (FIFO) queue.
        small_id = delivery.upload(client, small)
        phases.mark("upload_small")

        result.direct = uploads.measure_direct(client, large.data, config.runs, config.warmup_runs)
        phases.mark("uploads_direct")
        result.presigned = uploads.measure_presigned(
            client, large.data, config.runs, config.warmup_runs
        )
        phases.mark("uploads_presigned")

        checked = {
            "small": small_id,
            "direct": result.direct.image_ids[0],
            "presigned": result.presigned.image_ids[0],
        }
        _process(svc, workdir, client, checked, result)
        phases.mark("process_with_worker")

        for label in ("direct", "presigned"):
            result.checks.get_returns(
                f"{large.size / 1e6:.1f} MB image uploaded {label}: GET returns the exact bytes",
                f"{svc.base_url}/images/{checked[label]}",
                large.data,
            )
        result.get = delivery.measure(
            svc, backend, small_id, small, config.wrk, result.checks, config.nginx_workers
        )
        phases.mark("get_throughput")


def _process(
    svc: service.Service,
    workdir: Path,
    client: httpx.Client,
    checked: dict[str, str],
    result: BackendResult,
) -> None:
    """Run `imghost worker` until the ``checked`` images are ready, then stop it.

    Jobs queued behind them (the other timed uploads) may be left unprocessed or
    cut off: nothing reads them, and wrk must not share the cores with the worker.
    """
    with service.worker_running(svc, workdir) as worker:
        statuses = service.wait_processed(client, list(checked.values()), worker)
    for label, image_id in checked.items():
        status = statuses[image_id]
        result.processed[label] = {"image_id": image_id, "status": status}
        result.checks.add(
            f"{label} upload: `imghost worker` processed it (owner's GET /v1/images/{{id}})",
            status == "ready",
            f"status {status!r}",
        )
    left = worker.members()
    result.checks.add(
        "`imghost worker` and its pixel pool stopped before the GET phase",
        worker.proc.returncode is not None and not left,
        f"exit {worker.proc.returncode}" + (f", still running: {left}" if left else ""),
    )
