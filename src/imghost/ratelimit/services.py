"""What routes ask of the rate limits beyond what the middleware decides before them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request

#: The scope key under which the middleware leaves a request's byte meter.
BYTE_METER = "imghost.upload_bytes"
ByteMeter = Callable[[int], Awaitable[None]]


async def charge_upload_bytes(request: Request, amount: int) -> None:
    """Count ``amount`` bytes against the caller's ``upload_bytes`` budget for
    bytes that did not arrive in the request's body (an upload from a URL):
    429 ``rate_limited`` when they do not fit. Nothing when rate limits are
    off or the caller's plan has no byte budget."""
    meter: ByteMeter | None = request.scope.get(BYTE_METER)
    if meter is not None:
        await meter(amount)
