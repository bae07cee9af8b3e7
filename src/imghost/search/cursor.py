"""Opaque keyset cursors: the sort and the last row's sort key, base64url JSON."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from imghost.errors import AppError


def encode(sort: str, key: list[Any]) -> str:
    raw = json.dumps({"s": sort, "k": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, sort: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        key = data["k"]
        if data["s"] != sort or not isinstance(key, list):
            raise ValueError("another sort")
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise AppError(
            400,
            "invalid_cursor",
            "This cursor is not one this listing gave out (or was made for another sort); "
            "start again without it.",
        ) from None
    return key
