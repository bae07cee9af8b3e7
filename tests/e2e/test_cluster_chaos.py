"""The chaos run of `make cluster`, short: a cluster on loopback under load while an
API process, a worker and Redis are SIGKILLed and PostgreSQL is restarted."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.cluster.run import CHAOS_SETTINGS, chaos_run

from imghost.testing.cluster import running
from imghost.testing.servers import S3Server, Unavailable
from tests.conftest import unavailable


def test_chaos_run_loses_no_acknowledged_upload(s3_server: S3Server, tmp_path: Path) -> None:
    settings = {**CHAOS_SETTINGS, "IMGHOST_PASSWORD_HASH_COST": "minimal"}
    try:
        cluster_cm = running(2, 2, workdir=tmp_path, settings=settings, s3=s3_server)
        cluster = cluster_cm.__enter__()
    except Unavailable as exc:
        unavailable(str(exc))
    try:
        # The killed API process stays down: the edge sends everything to the other
        # (a restart is seconds of a core the short run has not got).
        result = asyncio.run(chaos_run(cluster, clients=8, duration=12, restart_api=False))
    finally:
        cluster_cm.__exit__(None, None, None)
    summary = result.as_json()
    assert result.ok, summary
    # The run did what it is for: uploads of both kinds acknowledged, every failure
    # injected, and the retrying clients got through the database restart.
    vias = {ack.via for ack in result.record.acks.values()}
    assert vias == {"upload", "tus_upload"}, summary
    assert [e.name for e in result.events] == [
        "kill_api0",
        "kill_worker0",
        "start_worker0",
        "redis_down",
        "restart_postgres",
    ]
    assert result.verdict.retrieved > 0
