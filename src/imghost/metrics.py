"""The process's Prometheus metrics, written where every process of the host adds up.

An install runs several API processes (uvicorn spawns IMGHOST_WORKERS of them)
and ``imghost worker`` processes; a scrape reaches one API process, which must
answer for them all. prometheus-client's multiprocess mode does that: each
process writes its counters and histograms to files of its own (named by its
pid) in one directory, IMGHOST_METRICS_DIR, and ``render`` adds up every
file there.

The library picks its storage when a metric is made, from
``PROMETHEUS_MULTIPROC_DIR`` read at import: too early for us, since the
directory is a setting and this module is imported by everything. So metrics
are made by :func:`enable` (``create_app`` and ``imghost worker`` call it when
IMGHOST_METRICS_TOKEN is set, i.e. when someone may read them), which sets the
variable and the library's storage class first. Until then every ``observe``
function here is a no-op: an install that does not scrape pays nothing.

Labels are low-cardinality by construction: a route's template (never the
raw path), a method from a fixed list, a status class, a kind from the code.

Files of processes that are gone stay (their counts still count) until
``imghost serve`` starts and removes them (:func:`clear_stale`); a process
that stops cleanly takes its live gauges with it (:func:`mark_dead`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.registry import Collector

#: The methods a request's label may name; anything else is "other" (a client
#: chooses the method, and each label value is a series kept for ever).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: The route label of requests answered before routing (rate limits, body
#: limits, refused targets) or matching no route.
UNROUTED = "unrouted"

HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

#: Problem codes counted as refusals, and the counter and kind each goes to.
_QUOTA_KINDS = {"quota_exceeded": "storage", "bandwidth_exceeded": "bandwidth"}


class Instruments:
    """Every metric a process records (made by :func:`enable`)."""

    def __init__(self) -> None:
        self.http_requests = Counter(
            "imghost_http_requests",
            "HTTP requests answered, by route template, method and status class",
            ["route", "method", "status"],
            registry=None,
        )
        self.http_duration = Histogram(
            "imghost_http_request_duration_seconds",
            "Seconds from a request's arrival to the end of its answer, by route template",
            ["route", "method"],
            buckets=HTTP_BUCKETS,
            registry=None,
        )
        self.upload_bytes = Counter(
            "imghost_upload_bytes",
            "Upload body bytes received, by kind of upload (direct, presigned, tus)",
            ["kind"],
            registry=None,
        )
        self.processing_step = Histogram(
            "imghost_processing_step_seconds",
            "Seconds each step of an image's processing took (the steps of the "
            "'image processing' log line)",
            ["step"],
            buckets=STEP_BUCKETS,
            registry=None,
        )
        self.rate_limit_refusals = Counter(
            "imghost_rate_limit_refusals",
            "Requests refused 429 rate_limited, by the limit's category",
            ["kind"],
            registry=None,
        )
        self.quota_refusals = Counter(
            "imghost_quota_refusals",
            "Requests refused for a quota (storage: 413 quota_exceeded; bandwidth: 429 "
            "bandwidth_exceeded)",
            ["kind"],
            registry=None,
        )
        self.cache_lookups = Counter(
            "imghost_delivery_cache_lookups",
            "Delivery cache lookups by cache (facts: an image's delivery facts; blobs: "
            "small blobs' bytes) and result (hit, miss)",
            ["cache", "result"],
            registry=None,
        )
        self.scans = Counter(
            "imghost_malware_scans",
            "Malware scans asked of clamd, by result (clean, infected, refused, unreachable)",
            ["result"],
            registry=None,
        )
        self.clamd_failures = Counter(
            "imghost_clamd_failures",
            "Times clamd could not be reached or refused our stream size (scans and the "
            "workers' hourly check)",
            registry=None,
        )
        self.processes = Gauge(
            "imghost_processes",
            "Processes of this host recording metrics, by role (api, worker)",
            ["role"],
            multiprocess_mode="livesum",
            registry=None,
        )
        # The children of the request series seen so far, keyed by their label
        # values: labels() costs a lock and a tuple per call on the hot path.
        self._http: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def http(self, route: str, method: str, status: int) -> tuple[Counter, Histogram]:
        key = (route, method, status)
        children = self._http.get(key)
        if children is None:
            if method not in METHODS:
                method = "other"
            status_class = f"{status // 100}xx" if 100 <= status < 600 else "other"
            children = (
                self.http_requests.labels(route, method, status_class),
                self.http_duration.labels(route, method),
            )
            self._http[key] = children
        return children


_on: Instruments | None = None
_directory: str | None = None


def enable(directory: str, role: str) -> None:
    """Record this process's metrics in ``directory`` from now on (idempotent).

    A second call with another directory (tests build many apps in one process)
    starts afresh there: new files, new metrics."""
    global _on, _directory
    if _directory == directory:
        return
    Path(directory).mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    # The storage class metrics are made with, chosen again now that the
    # directory is known (the library chose it at import, see the docstring).
    # A new class each time: it keeps its open files to itself.
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    _on = Instruments()
    _directory = directory
    _on.processes.labels(role).set(1)


def enabled() -> bool:
    return _on is not None


def directory() -> str | None:
    return _directory


def mark_dead() -> None:
    """This process is stopping: its live gauges (``imghost_processes``) go."""
    if _directory is not None:
        with contextlib.suppress(OSError):
            multiprocess.mark_process_dead(os.getpid(), _directory)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def clear_stale(directory: str) -> list[str]:
    """Remove the files of processes that no longer run (``imghost serve`` at start:
    a restart's counters start again, and Prometheus reads a reset as one). The
    files of live processes (``imghost worker`` on this host) stay. Returns the
    names removed."""
    removed: list[str] = []
    root = Path(directory)
    if not root.is_dir():
        return removed
    for path in root.glob("*.db"):
        # counter_123.db, histogram_123.db, gauge_livesum_123.db
        pid = path.stem.rpartition("_")[2]
        if pid.isdigit() and _alive(int(pid)):
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path.name)
    return removed


def render(extra: Iterable[Collector] = (), directory: str | None = None) -> bytes:
    """The Prometheus text of every process that wrote to ``directory`` (this
    process's, by default), and of the ``extra`` collectors."""
    registry = CollectorRegistry(auto_describe=False)
    directory = directory or _directory
    if directory is not None and Path(directory).is_dir():
        multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    for collector in extra:
        registry.register(collector)
    return generate_latest(registry)


# --- what the code observes (no-ops until enable) --------------------------------


def http_request(route: str, method: str, status: int, seconds: float) -> None:
    if _on is None:
        return
    requests, duration = _on.http(route, method, status)
    requests.inc()
    duration.observe(seconds)


def upload_bytes(kind: str, amount: int) -> None:
    if _on is not None and amount > 0:
        _on.upload_bytes.labels(kind).inc(amount)


def processing_steps(steps: Mapping[str, float]) -> None:
    if _on is None:
        return
    for step, seconds in steps.items():
        _on.processing_step.labels(step).observe(seconds)


def refusal(code: str, category: object) -> None:
    """A problem answer went out: count it if it refuses for a limit or a quota."""
    if _on is None:
        return
    if code == "rate_limited":
        # Categories are the rate limits' own names (uploads, upload_bytes,
        # views); throttles without one (sign-ins, reports) count as "other".
        kind = category if isinstance(category, str) and len(category) <= 32 else "other"
        _on.rate_limit_refusals.labels(kind).inc()
    elif code in _QUOTA_KINDS:
        _on.quota_refusals.labels(_QUOTA_KINDS[code]).inc()


def cache_lookup(cache: str, hit: bool) -> None:
    if _on is not None:
        _on.cache_lookups.labels(cache, "hit" if hit else "miss").inc()


def malware_scan(result: str) -> None:
    if _on is not None:
        _on.scans.labels(result).inc()


def clamd_failure() -> None:
    if _on is not None:
        _on.clamd_failures.inc()


_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def registered_names() -> set[str]:
    """The names of every series this module can write, as Prometheus shows them
    (``_total`` on counters, ``_bucket``/``_sum``/``_count`` on histograms): what
    the alert rules may refer to, beside the scrape-time ones of ``ops``."""
    names: set[str] = set()
    for metric in vars(_on or Instruments()).values():
        family = metric.describe()[0] if hasattr(metric, "describe") else None
        if family is not None:
            names.update(family.name + suffix for suffix in _SUFFIXES[family.type])
    return names
