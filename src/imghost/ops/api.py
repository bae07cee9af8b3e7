"""``GET /readyz`` (no credentials: load balancers call it) and ``GET /metrics``
(a scraper with IMGHOST_METRICS_TOKEN). The app's ``Ops`` is on ``app.state``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from imghost.errors import PROBLEM_JSON, problem
from imghost.ops.services import Check, Ops, failing

router = APIRouter()

_NOT_READY = {
    "description": "A check failed: each is named with its reason (code `not_ready`)",
    "content": {PROBLEM_JSON: {}},
}


def _ops(request: Request) -> Ops:
    ops: Ops = request.app.state.ops
    return ops


@router.get("/readyz", tags=["ops"], responses={503: _NOT_READY})
async def readyz(request: Request) -> Any:
    """Whether this process should get traffic: the database, its migrations, the
    blob store, Redis when configured and, when IMGHOST_READY_MAX_QUEUE_AGE is set,
    the job queue's oldest due job. Reused for a second. Not ready either from
    the SIGTERM on, while requests drain: a load balancer holding a kept-alive
    connection to this process then takes it out of rotation."""
    checks = dict(await _ops(request).readiness.result())
    if request.app.state.draining.active:
        checks["draining"] = Check(False, "the process is shutting down")
    body = {name: check.as_json() for name, check in checks.items()}
    failed = failing(checks)
    if failed:
        reasons = "; ".join(f"{name}: {checks[name].detail}" for name in failed)
        return problem(503, "not_ready", f"Not ready: {reasons}.", checks=body)
    return JSONResponse({"status": "ready", "checks": body})


@router.get("/metrics", include_in_schema=False)
async def metrics_text(request: Request) -> Response:
    ops = _ops(request)
    ops.authorize(request.headers.get("authorization"))
    return Response(await ops.scrape(), media_type=CONTENT_TYPE_LATEST)
