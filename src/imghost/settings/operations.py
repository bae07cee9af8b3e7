"""The settings of running the service at scale: read replicas of the database, and
what operators' tools read (readiness, Prometheus metrics). Sections of
:mod:`imghost.settings.sections`."""

from __future__ import annotations

from dataclasses import dataclass

from imghost.settings.declare import setting


@dataclass(frozen=True)
class ReplicaSettings:
    """Read replicas of the PostgreSQL database and where reads go (``replicas.config``)."""

    database_replica_urls: str = setting(
        "",
        "PostgreSQL read replicas (hot standbys of IMGHOST_DATABASE_URL), comma-separated "
        "URLs: listings, search, usage and statistics read from them; empty: every read "
        "on the primary",
    )
    replica_max_lag: float = setting(
        2.0,
        "Seconds a replica may be behind the primary and still serve reads; one further "
        "behind is skipped until it catches up",
    )
    replica_lag_check: float = setting(
        1.0,
        "Seconds between measurements of a replica's lag (the first read after that long "
        "measures it again)",
    )
    replica_sticky_seconds: float = setting(
        5.0,
        "Seconds a signed-in caller's reads stay on the primary after they write "
        "(read-your-writes, marked in IMGHOST_REDIS_URL); at least "
        "IMGHOST_REPLICA_MAX_LAG + IMGHOST_REPLICA_LAG_CHECK",
    )
    replica_timeout: float = setting(
        1.0,
        "Seconds a read waits to connect to a replica and measure its lag before it goes "
        "to the primary (the replica is then skipped for a few seconds)",
    )


@dataclass(frozen=True)
class OpsSettings:
    """What operators' tools read: readiness and Prometheus metrics (``ops.config``)."""

    metrics_token: str = setting(
        "",
        "Bearer token a scraper sends to read GET /metrics (at least 32 characters); "
        "empty: /metrics answers 404 and no process records metrics",
        secret=True,
    )
    metrics_dir: str = setting(
        "",
        "Directory where every API and worker process of this host writes its metrics "
        "(prometheus-client's multiprocess files; default: DATA_DIR/metrics). "
        "`imghost serve` removes the files of processes that are gone when it starts",
    )
    ready_timeout: float = setting(
        2.0, "Seconds each readiness check of GET /readyz may take before it counts as failed"
    )
    ready_max_queue_age: int = setting(
        0,
        "GET /readyz fails when the oldest due job has waited longer than this, seconds "
        "(0: not checked; a backlog is the workers' problem, and the queue-age alert says so)",
    )
