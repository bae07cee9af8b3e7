"""RFC 9457 problem details: every error the API gives has this shape.

Services raise :class:`AppError` (or a subclass) with a stable machine ``code``
and a sentence a person understands; the handlers installed by
:func:`install_handlers` turn those, and every framework error (404, 405,
request validation), into ``application/problem+json``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from imghost import metrics

PROBLEM_JSON = "application/problem+json"

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    410: "Gone",
    411: "Length Required",
    412: "Precondition Failed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    416: "Range Not Satisfiable",
    422: "Unprocessable Content",
    423: "Locked",
    429: "Too Many Requests",
    451: "Unavailable For Legal Reasons",
    460: "Checksum Mismatch",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

_DEFAULT_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    411: "length_required",
    413: "content_too_large",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
}

#: Seconds a client is asked to wait when every database connection is busy:
#: a request holds one for milliseconds, so the pool frees up quickly.
BUSY_RETRY_AFTER = 2


class AppError(Exception):
    """An error with an HTTP status, a stable code and a human sentence."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


class NotFound(AppError):
    def __init__(self, detail: str = "The requested resource does not exist.") -> None:
        super().__init__(404, "not_found", detail)


class Forbidden(AppError):
    def __init__(self, detail: str = "You are not allowed to do this.") -> None:
        super().__init__(403, "forbidden", detail)


class Unauthorized(AppError):
    def __init__(self, detail: str = "Authentication is required.", code: str = "unauthorized"):
        super().__init__(401, code, detail, headers={"WWW-Authenticate": "Bearer"})


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://imghost.dev/problems/{code}",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "code": code,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    # Every problem answer is made here, those of the middleware included:
    # the one place that sees every refusal for a rate limit or a quota.
    metrics.refusal(code, extra.get("category"))
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return problem(
        exc.status,
        exc.code,
        exc.detail,
        instance=request.url.path,
        headers=exc.headers,
        **exc.extra,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(status, "Error")
    if status == 404 and detail == "Not Found":
        detail = "There is nothing at this URL."
    elif status == 405:
        detail = f"{request.method} is not allowed on this URL."
    return problem(
        status,
        _DEFAULT_CODES.get(status, "error"),
        detail,
        instance=request.url.path,
        headers=dict(exc.headers or {}),
    )


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "request"


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _location(err.get("loc", ())), "message": err.get("msg", "invalid")}
        for err in exc.errors()
    ]
    first = errors[0] if errors else {"field": "request", "message": "invalid"}
    detail = f"The request is invalid: {first['field']}: {first['message']}."
    return problem(422, "validation_error", detail, instance=request.url.path, errors=errors)


async def _pool_exhausted(request: Request, exc: Exception) -> JSONResponse:
    # Every pooled connection stayed busy for IMGHOST_DB_POOL_TIMEOUT seconds:
    # an overload that passes, not a bug, so 503 with a time to come back.
    assert isinstance(exc, PoolTimeout)
    return problem(
        503,
        "server_busy",
        "The service is too busy to answer right now; retry in a moment.",
        instance=request.url.path,
        headers={"Retry-After": str(BUSY_RETRY_AFTER)},
    )


# SQLSTATE classes of a database that is not there: 08 connection exceptions,
# 57P01-57P03 admin shutdown, crash shutdown, cannot connect now (starting up).
_UNREACHABLE_STATES = ("08", "57P01", "57P02", "57P03")


#: Modules whose bare ``OSError`` is the database's connection failing.
_DRIVER_MODULES = ("asyncpg", "sqlalchemy")


def _raised_by_driver(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", ""))
        if module.startswith(_DRIVER_MODULES):
            return True
        tb = tb.tb_next
    return False


def database_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database could not be reached (down, restarting,
    the connection cut), as opposed to a statement that failed.

    Opening a connection to a server that is down raises the socket's own
    ``OSError`` out of asyncpg, which SQLAlchemy does not wrap (it wraps only
    the driver's error classes): such an ``OSError`` counts when it was raised
    inside the driver, and no other does (a full disk is not a database outage).
    """
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OSError):
        return _raised_by_driver(exc)
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, OSError) or type(cause).__name__ == "ConnectionDoesNotExistError":
            return True
        if str(getattr(cause, "sqlstate", "") or "").startswith(_UNREACHABLE_STATES):
            return True
        cause = getattr(cause, "orig", None) or cause.__cause__ or cause.__context__
    return False


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    # A database restart or failover: every request fails for its seconds, and a
    # client that comes back later succeeds. 503 with a time to come back says so
    # (a 500 says the request itself broke something); nothing to log per request.
    if not database_unreachable(exc):
        raise exc  # a failing statement: the unexpected-error answer, logged
    return problem(
        503,
        "database_unavailable",
        "The database cannot be reached right now; retry in a moment.",
        instance=request.url.path,
        headers={"Retry-After": str(BUSY_RETRY_AFTER)},
    )


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(PoolTimeout, _pool_exhausted)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(OSError, _database_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
