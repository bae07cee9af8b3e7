"""A route class for the delivery endpoints that skips FastAPI's dependency machinery.

A cached view costs well under a millisecond of work of its own; solving the
route's dependencies (request, context) and validating its path parameters
cost about as much again. A ``LeanRoute`` endpoint is still declared the usual
way, so OpenAPI documents it, but is called with the request, the app's
context and the path's (string) parameters as they are. Its errors are the
app's usual problem answers: the endpoint runs inside Starlette's
exception handling like any route's.

Only for endpoints whose parameters are exactly ``request``, ``ctx`` and path
parameters of type ``str``; anything else needs the real machinery.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute


class LeanRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = self.endpoint

        async def handle(request: Request) -> Response:
            response: Response = await endpoint(
                request=request, ctx=request.app.state.ctx, **request.path_params
            )
            return response

        return handle
