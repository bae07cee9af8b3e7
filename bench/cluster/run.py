"""One chaos run on a running cluster: the load, the failures during it, then the
end conditions. Shared by `make cluster` and the short run in the test suite."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

from bench.cluster.chaos import DB_SETTLE, Event, classify, run_chaos
from bench.cluster.load import Attempt, Record, run_load
from bench.cluster.verify import Verdict, verify
from bench.stats import Summary
from imghost.testing.cluster import Cluster

# Every process of the cluster gets these (the chaos test too).
CHAOS_SETTINGS: dict[str, str] = {
    # Room for the load: the limiter still runs (through Redis, which the run kills),
    # but a few dozen clients from their own addresses never reach its budgets, nor
    # does the throughput figure's wrk, all of whose views come from one address.
    "IMGHOST_RATE_LIMITS_FREE": "uploads=6000/minute; upload_bytes=50GB/hour; views=60000/minute",
    "IMGHOST_RATE_LIMITS_ANONYMOUS": "views=6000000/minute",
    "IMGHOST_SIGNUP_RATE_LIMIT": "off",
    # A killed worker's job is claimed again once its lease lapses: seconds, not a minute.
    "IMGHOST_JOB_LEASE": "5",
    # A tus PATCH cut by the API kill or the database restart leaves its upload locked
    # (423) until its lease lapses: 8 s, not a minute added to the run (p95 was 61.8 s).
    "IMGHOST_TUS_LEASE": "8",
    "IMGHOST_WORKER_CONCURRENCY": "2",
}


@dataclass
class ChaosResult:
    clients: int
    duration: float
    record: Record
    events: list[Event]
    verdict: Verdict
    db_window_errors: list[Attempt]
    api_kill_errors: list[Attempt]
    unexplained_errors: list[Attempt]
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def ops_table(self) -> list[dict[str, object]]:
        rows = []
        names = sorted({op.name for op in self.record.ops})
        for name in names:
            ops = [op for op in self.record.ops if op.name == name]
            attempts = [a for a in self.record.attempts if a.op == name]
            latency = Summary.of([(op.end - op.start) * 1000 for op in ops])
            rows.append(
                {
                    "op": name,
                    "ops": len(ops),
                    "ok": sum(op.ok for op in ops),
                    "retried": sum(op.attempts > 1 for op in ops),
                    "attempts": len(attempts),
                    "http_5xx": sum(a.status >= 500 for a in attempts),
                    "no_answer": sum(a.status == 0 for a in attempts),
                    "http_429": sum(a.status == 429 for a in attempts),
                    "p50_ms": round(latency.p50, 1),
                    "p95_ms": round(latency.p95, 1),
                    "per_s": round(len(ops) / self.duration, 1),
                }
            )
        return rows

    def as_json(self) -> dict[str, object]:
        def errors(attempts: list[Attempt]) -> dict[str, int]:
            return dict(
                Counter(f"{a.op} {a.status or 'no answer'} {a.code}".strip() for a in attempts)
            )

        return {
            "clients": self.clients,
            "duration_s": self.duration,
            "ops": self.ops_table(),
            "events": [e.as_json() for e in self.events],
            "db_settle_s": DB_SETTLE,
            "errors_in_db_window": errors(self.db_window_errors),
            "errors_at_api_kill": errors(self.api_kill_errors),
            "errors_unexplained": errors(self.unexplained_errors),
            "unexplained": [
                {
                    "op": a.op,
                    "status": a.status,
                    "code": a.code,
                    "start": round(a.start, 3),
                    "end": round(a.end, 3),
                }
                for a in self.unexplained_errors
            ],
            "verdict": self.verdict.as_json(),
            "problems": self.problems,
            "ok": not self.problems,
        }


async def chaos_run(
    cluster: Cluster, clients: int, duration: float, restart_api: bool = True
) -> ChaosResult:
    record = Record()
    started = asyncio.Event()
    load = asyncio.create_task(run_load(cluster.edge_url, clients, duration, record, started))
    await started.wait()
    try:
        events = await run_chaos(cluster, record, duration, restart_api)
    finally:
        await load
    classified = classify(record, events)
    verdict = await verify(cluster, record)
    result = ChaosResult(
        clients=clients,
        duration=duration,
        record=record,
        events=events,
        verdict=verdict,
        db_window_errors=classified.db_window,
        api_kill_errors=classified.api_kill,
        unexplained_errors=classified.unexplained,
    )
    result.problems.extend(verdict.problems)
    if classified.unexplained:
        result.problems.append(
            f"{len(classified.unexplained)} 5xx or unanswered requests outside the failures' "
            f"windows: {result.as_json()['errors_unexplained']}"
        )
    failed = Counter(f"{op.name} {op.status}" for op in record.ops if not op.ok)
    if failed:
        result.problems.append(f"operations that failed after their retries: {dict(failed)}")
    if not record.acks:
        result.problems.append("no upload was acknowledged")
    return result
