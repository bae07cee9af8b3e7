"""Keyset cursors over (created_at, id), newest first: base64url JSON, opaque to
clients (notifications, webhook deliveries, the admin image lookup)."""

from __future__ import annotations

import base64
import datetime as dt
import json

from imghost.errors import AppError


def encode(created_at: dt.datetime, row_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str) -> tuple[dt.datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        when, row_id = json.loads(raw)
        at = dt.datetime.fromisoformat(when)
        if at.tzinfo is None or not isinstance(row_id, str):
            raise ValueError
    except (ValueError, TypeError):
        raise AppError(
            400, "invalid_cursor", "This cursor is malformed; start again without it."
        ) from None
    return at, row_id
