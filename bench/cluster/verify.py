"""The chaos run's end conditions, checked once the load has stopped:

- every acknowledged upload is retrievable from the origin with the SHA-256 of
  what was sent (deleted ones: 404);
- every job finished: none queued, running or dead;
- nothing orphaned after gc: what `imghost gc` does (the purge sweep, then
  collection), then what `imghost gc --dry-run` reports: no orphan blob, no image
  row whose blobs are missing, no purge unfinished. Nothing is in flight any
  more, so the grace period is 0: a blob a killed process left is an orphan now.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass, field

import httpx

from bench.cluster.load import Record
from imghost.context import AppContext
from imghost.jobs import queue
from imghost.lifecycle.purge import pending, sweep
from imghost.maintenance.gc import collect
from imghost.settings import Settings
from imghost.testing.cluster import Cluster


@dataclass
class Verdict:
    acknowledged: int = 0
    retrieved: int = 0
    deleted_gone: int = 0
    mismatched: list[str] = field(default_factory=list)
    unretrievable: list[str] = field(default_factory=list)
    jobs: dict[str, dict[str, int]] = field(default_factory=dict)
    jobs_seconds: float = 0.0  # from the load's end until every job finished
    orphans_left_by_failures: int = 0  # found before gc collected them
    orphan_keys: list[str] = field(default_factory=list)
    orphans_after_gc: int = 0
    dangling_rows: int = 0
    purges_unfinished: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, object]:
        return {**self.__dict__, "ok": self.ok}


async def verify(cluster: Cluster, record: Record, jobs_timeout: float = 120) -> Verdict:
    verdict = Verdict(acknowledged=len(record.acks))
    ctx = AppContext.build(Settings.from_env(cluster.env))
    try:
        await _jobs(ctx, verdict, jobs_timeout)
        await _retrievable(cluster, record, verdict)
        await _gc(ctx, verdict)
    finally:
        await ctx.close()
    return verdict


async def _jobs(ctx: AppContext, verdict: Verdict, timeout: float) -> None:
    """Wait for the workers to finish what is queued (a killed worker's job waits
    for its lease to lapse); no event says so across processes: the queue is read."""
    start = time.monotonic()
    while True:
        async with ctx.sessions() as session:
            counts = await queue.stats(session)
        busy = sum(c.get("queued", 0) + c.get("running", 0) for c in counts.values())
        if not busy or time.monotonic() - start > timeout:
            break
        await asyncio.sleep(0.25)
    verdict.jobs = counts
    verdict.jobs_seconds = round(time.monotonic() - start, 2)
    for kind, by_status in counts.items():
        for status in ("queued", "running", "dead"):
            if by_status.get(status):
                verdict.problems.append(f"{by_status[status]} {kind} jobs {status}")


async def _retrievable(cluster: Cluster, record: Record, verdict: Verdict) -> None:
    """Through an API process, not the edge: the origin's original file route, as the
    owner (who is given the original as uploaded)."""
    origin = next(api.url for api in cluster.apis if api.alive)
    async with httpx.AsyncClient(base_url=origin, timeout=30) as http:
        sem = asyncio.Semaphore(8)

        async def one(image_id: str) -> None:
            ack = record.acks[image_id]
            headers = {"Authorization": f"Bearer {record.tokens[ack.owner]}"}
            async with sem:
                r = await http.get(
                    f"/v1/images/{image_id}/file", headers=headers, follow_redirects=True
                )
            if ack.deleted or (ack.deleting and r.status_code == 404):
                # (A delete that got no answer may or may not have been applied.)
                if r.status_code == 404:
                    verdict.deleted_gone += 1
                else:
                    verdict.problems.append(f"deleted {image_id}: {r.status_code}")
            elif r.status_code != 200:
                verdict.unretrievable.append(f"{image_id}: {r.status_code} {r.text[:120]}")
            elif hashlib.sha256(r.content).hexdigest() != ack.sha256:
                verdict.mismatched.append(image_id)
            else:
                verdict.retrieved += 1

        await asyncio.gather(*(one(i) for i in record.acks))
    if verdict.unretrievable:
        verdict.problems.append(f"{len(verdict.unretrievable)} acknowledged uploads unretrievable")
    if verdict.mismatched:
        verdict.problems.append(f"{len(verdict.mismatched)} uploads differ from what was sent")


async def _gc(ctx: AppContext, verdict: Verdict) -> None:
    before = await collect(ctx.gc, 0, dry_run=True, check_rows=True)
    verdict.orphans_left_by_failures = before.orphan_blobs
    verdict.orphan_keys = list(before.orphan_keys)
    await sweep(ctx.purging)
    await collect(ctx.gc, 0)
    after = await collect(ctx.gc, 0, dry_run=True, check_rows=True)
    verdict.orphans_after_gc = after.orphan_blobs
    verdict.dangling_rows = after.dangling_rows
    verdict.purges_unfinished = sum(await pending(ctx.sessions))
    if after.orphan_blobs:
        verdict.problems.append(f"{after.orphan_blobs} orphan blobs after gc: {after.orphan_keys}")
    if after.dangling_rows:
        verdict.problems.append(
            f"{after.dangling_rows} image rows whose blobs are missing: {after.dangling_images}"
        )
    if verdict.purges_unfinished:
        verdict.problems.append(f"{verdict.purges_unfinished} purges due or unfinished")
