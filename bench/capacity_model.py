"""The capacity model: from measured per-core figures to hardware for a workload.

Pure arithmetic, no I/O: the capacity section feeds it what it measured and
prints the plan; docs/OPERATIONS.md ("Capacity model") quotes both. Every rate
is per second unless its name says otherwise.

The rules it encodes:

- a route kind's cost is the API process's CPU time per request; a core answers
  ``10⁶ ÷ CPU µs`` requests a second, and the peak must fit at ``utilisation``
  (half by default: losing one of two hosts at peak must not overload the other);
- requests the CDN answers never reach the origin: the origin sees
  ``rate * (1 - hit ratio)`` of the cacheable kinds;
- a processed image costs its CPU seconds once, at upload; workers are sized for
  the upload peak at ``utilisation`` and scaled on queue depth and oldest age
  (:func:`desired_workers`);
- the database sees each request's statements (the section counts them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

SECONDS_PER_MONTH = 30 * 86_400
SECONDS_PER_DAY = 86_400
# Kinds a CDN can answer: public bytes. Private views, API reads and uploads pass.
CACHEABLE = frozenset({"view_cached", "view_uncached"})


def per_second(per_month: float) -> float:
    """An average rate from a monthly count (30-day month)."""
    return per_month / SECONDS_PER_MONTH


def per_core(cpu_us_per_request: float) -> float:
    """Requests one fully busy core answers a second, from CPU µs per request."""
    if cpu_us_per_request <= 0:
        raise ValueError("CPU time per request must be positive")
    return 1e6 / cpu_us_per_request


def mixed_cpu_us(mix: Mapping[str, float], cpu_us: Mapping[str, float]) -> float:
    """CPU µs of an average request of ``mix`` (kind → share of requests; shares
    need not add up to 1, they are normalised)."""
    total = sum(mix.values())
    if total <= 0:
        raise ValueError("the mix is empty")
    missing = sorted(set(mix) - set(cpu_us))
    if missing:
        raise KeyError(f"no CPU figure for {', '.join(missing)}")
    return sum(share * cpu_us[kind] for kind, share in mix.items()) / total


def origin_share(mix: Mapping[str, float], hit_ratio: float) -> float:
    """The share of all requests that reach the origin when the CDN answers
    ``hit_ratio`` of the cacheable ones."""
    if not 0 <= hit_ratio <= 1:
        raise ValueError("a hit ratio is between 0 and 1")
    total = sum(mix.values())
    cacheable = sum(share for kind, share in mix.items() if kind in CACHEABLE)
    return (total - cacheable * hit_ratio) / total


def cores_for(rate: float, cpu_seconds_each: float, utilisation: float) -> float:
    """Cores that do ``rate`` units a second of ``cpu_seconds_each`` at ``utilisation``."""
    if not 0 < utilisation <= 1:
        raise ValueError("utilisation is in (0, 1]")
    return rate * cpu_seconds_each / utilisation


def processes(cores: float, minimum: int = 2) -> int:
    """Whole single-core processes for ``cores``, never fewer than ``minimum`` (two:
    no single point of failure)."""
    return max(minimum, math.ceil(cores - 1e-9))


def desired_workers(
    *,
    arrival: float,
    depth: int,
    oldest_age_s: float,
    cpu_s_per_job: float,
    current: int,
    target_age_s: float = 60.0,
    utilisation: float = 0.7,
    minimum: int = 2,
    maximum: int = 1_000,
) -> int:
    """Single-core worker processes to run now (the autoscaling rule).

    - ``arrival * cpu_s_per_job ÷ utilisation`` keeps up with what arrives;
    - ``depth * cpu_s_per_job ÷ target_age_s`` drains the backlog within the
      target age;
    - when the oldest queued job is already older than the target, the current
      count is multiplied by ``oldest_age_s ÷ target_age_s`` (what the first two
      terms miss: jobs slower than measured, a stuck worker);
    - the result is clamped to [minimum, maximum]; scaling in should wait for the
      backlog to drain (depth 0) so that a busy worker is not stopped mid-job.
    """
    steady = arrival * cpu_s_per_job / utilisation
    backlog = depth * cpu_s_per_job / target_age_s
    wanted = math.ceil(steady + backlog - 1e-9)
    if oldest_age_s > target_age_s:
        wanted = max(wanted, math.ceil(current * oldest_age_s / target_age_s))
    return min(maximum, max(minimum, wanted))


@dataclass(frozen=True)
class Figures:
    """What the section measured (one backend combination)."""

    cpu_us: Mapping[str, float]  # route kind → API CPU µs per request
    statements: Mapping[str, float]  # route kind → SQL statements per request
    processing_cpu_s: float  # per image (the mix of JPEG and HEIC photos)
    processing_statements: float  # per image
    stored_bytes_per_image: float  # original + what processing adds
    database_bytes_per_image: float  # rows, indexes, tags, search index
    # route kind -> PostgreSQL CPU us per request (empty: not measured)
    db_cpu_us: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Workload:
    images: int
    peak_rps: float  # every request at the busiest second
    views_per_month: float
    # Share of the requests by route kind (uploads included); views split into what
    # a process has cached (repeat views of popular images) and what it has not.
    mix: Mapping[str, float] = field(
        default_factory=lambda: {
            "view_cached": 0.505,
            "view_uncached": 0.30,
            "view_private": 0.05,
            "metadata": 0.06,
            "listing": 0.04,
            "search": 0.04,
            # 0.5 % of the peak: ~0.4 uploads/s at 77 RPS, ~12* the average of a
            # million images a year.
            "upload_direct": 0.0025,
            "upload_tus": 0.0025,
        }
    )
    cdn_hit_ratio: float = 0.0
    utilisation: float = 0.5  # API cores busy at peak
    worker_utilisation: float = 0.7
    # New images a second at the upload peak: the share of uploads in the mix * peak.
    upload_kinds: tuple[str, ...] = ("upload_direct", "upload_tus")


@dataclass(frozen=True)
class Plan:
    peak_rps: float
    average_view_rps: float
    origin_rps: float
    cpu_us_per_request: float
    api_cores: float
    api_processes: int
    upload_peak_per_s: float
    worker_cores: float
    worker_processes: int
    statements_per_s: float
    database_cores: float  # PostgreSQL CPU for the origin's requests, at utilisation
    stored_tb: float
    database_gb: float

    def as_json(self) -> dict[str, float | int]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in vars(self).items()}


def through_origin(mix: Mapping[str, float], hit_ratio: float) -> dict[str, float]:
    """The mix of what reaches the origin: the cacheable kinds thinned by the CDN. Behind
    a CDN the misses are the long tail, which the process has not seen lately either:
    they are all costed as uncached views."""
    if hit_ratio <= 0:
        return dict(mix)
    through = {kind: share for kind, share in mix.items() if kind not in CACHEABLE}
    missed = sum(share for kind, share in mix.items() if kind in CACHEABLE) * (1 - hit_ratio)
    through["view_uncached"] = missed
    return through


def hit_ratio_for(figures: Figures, workload: Workload, api_cores: float) -> float | None:
    """The lowest CDN hit ratio (to 0.1 %) at which the API tier needs at most
    ``api_cores``; None when even a perfect CDN leaves more (the uncacheable kinds)."""

    def cores(hit: float) -> float:
        return plan(figures, replace(workload, cdn_hit_ratio=hit)).api_cores

    if cores(1.0) > api_cores:
        return None
    low, high = 0.0, 1.0
    if cores(low) <= api_cores:
        return 0.0
    while high - low > 0.0005:
        middle = (low + high) / 2
        low, high = (low, middle) if cores(middle) <= api_cores else (middle, high)
    return round(high, 3)


def plan(figures: Figures, workload: Workload) -> Plan:
    """Hardware for ``workload`` at the measured per-core cost."""
    mix = workload.mix
    total = sum(mix.values())
    origin_rps = workload.peak_rps * origin_share(mix, workload.cdn_hit_ratio)
    through = through_origin(mix, workload.cdn_hit_ratio)
    cpu_us = mixed_cpu_us(through, figures.cpu_us)
    api_cores = cores_for(origin_rps, cpu_us / 1e6, workload.utilisation)
    uploads = workload.peak_rps * sum(mix.get(k, 0.0) for k in workload.upload_kinds) / total
    worker_cores = cores_for(uploads, figures.processing_cpu_s, workload.worker_utilisation)
    per_request = sum(
        share * figures.statements.get(kind, 0.0) for kind, share in through.items()
    ) / sum(through.values())
    statements = origin_rps * per_request + uploads * figures.processing_statements
    db_us = sum(share * figures.db_cpu_us.get(kind, 0.0) for kind, share in through.items()) / sum(
        through.values()
    )
    return Plan(
        peak_rps=workload.peak_rps,
        average_view_rps=per_second(workload.views_per_month),
        origin_rps=origin_rps,
        cpu_us_per_request=cpu_us,
        api_cores=api_cores,
        api_processes=processes(api_cores),
        upload_peak_per_s=uploads,
        worker_cores=worker_cores,
        worker_processes=processes(worker_cores),
        statements_per_s=statements,
        database_cores=cores_for(origin_rps, db_us / 1e6, workload.utilisation),
        stored_tb=workload.images * figures.stored_bytes_per_image / 1e12,
        database_gb=workload.images * figures.database_bytes_per_image / 1e9,
    )
