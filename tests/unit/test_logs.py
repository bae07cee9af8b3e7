"""The JSON log format: one object a line, with the current request's id."""

from __future__ import annotations

import io
import json
import logging

from imghost import logs, request_ids
from imghost.settings import Settings


def test_json_lines_carry_the_request_id(tmp_path: object) -> None:
    settings = Settings(log_format="json", data_dir=str(tmp_path))
    logs.configure(settings)  # installs the record factory (the root keeps pytest's handlers)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.formatter(settings))
    logger = logging.getLogger("imghost.test_logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        token = request_ids.bind("req-1")
        try:
            logger.warning("quota %s\nnext line", "at 95 %")
        finally:
            request_ids.reset(token)
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "quota at 95 %\nnext line"
    assert first["level"] == "WARNING" and first["logger"] == "imghost.test_logs"
    assert first["request_id"] == "req-1"
    assert first["time"].endswith("+00:00")
    assert "request_id" not in second  # outside any request
    assert "ValueError: boom" in second["exception"]


def test_text_is_the_default() -> None:
    assert isinstance(logs.formatter(Settings()), logging.Formatter)
    assert not isinstance(logs.formatter(Settings()), logs.JsonFormatter)
