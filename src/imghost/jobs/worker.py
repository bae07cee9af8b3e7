"""The background worker loop (periodic tasks for now).

`imghost serve` runs it in-process by default; `imghost worker` runs it alone,
as many as needed. The durable job queue arrives with the processing pipeline.
"""

from __future__ import annotations

import logging

import anyio

from imghost.context import AppContext
from imghost.jobs.gc import collect

log = logging.getLogger(__name__)


async def run_periodic(ctx: AppContext) -> None:
    """Run gc every `gc_interval` seconds until cancelled; errors never stop the loop."""
    while True:
        try:
            await collect(ctx)
        except Exception:
            log.exception("gc run failed; will retry next interval")
        await anyio.sleep(ctx.settings.gc_interval)
