"""The process's log format and level (IMGHOST_LOG_LEVEL, IMGHOST_LOG_FORMAT).

Set by every command, and by ``create_app`` too: with IMGHOST_WORKERS above 1,
uvicorn starts each API process afresh (spawn), where nothing else would set it,
and their lines (the in-process worker's, a request's error) would be lost.
``logging.basicConfig`` leaves a process whose root logger has handlers alone
(a test's capture, an embedding application's own set-up).

Every record gets a ``request_id`` attribute when it is made (a record factory,
so handlers that format later, or elsewhere, still see the request's id): the
id of the request being handled, or of the request that queued the job being
run (``imghost.request_ids``), else None. The ``json`` format writes one object
per line with it; the ``text`` format is unchanged.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from imghost import request_ids
from imghost.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line: time (UTC, ISO 8601 with
    milliseconds), level, logger, message, request_id when known, and the
    traceback as ``exception`` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # ensure_ascii: a message holding a client's text stays one line of ASCII.
        return json.dumps(entry, ensure_ascii=True, default=str)


def _with_request_ids() -> None:
    """Wrap the record factory (once) so that each record carries the current id."""
    make = logging.getLogRecordFactory()
    if getattr(make, "imghost_request_ids", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        record.request_id = request_ids.current()
        return record

    factory.imghost_request_ids = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def formatter(settings: Settings) -> logging.Formatter:
    return JsonFormatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT)


def configure(settings: Settings) -> None:
    _with_request_ids()
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(settings))
    logging.basicConfig(level=settings.log_level.upper(), handlers=[handler])


def uvicorn_log_config(settings: Settings) -> dict[str, Any] | None:
    """uvicorn's ``log_config``: its own (text) set-up, or, for JSON, none at all, so
    that its loggers' records reach the root handler and come out as JSON too."""
    if settings.log_format == "json":
        return None
    from uvicorn.config import LOGGING_CONFIG

    return LOGGING_CONFIG
