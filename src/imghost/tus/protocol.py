"""The tus 1.0.0 wire format: headers in, headers out. Pure functions."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from email.utils import format_datetime
from typing import Literal

from imghost.errors import AppError

VERSION = "1.0.0"
EXTENSIONS = (
    "creation",
    "creation-with-upload",
    "creation-defer-length",
    "expiration",
    "checksum",
    "termination",
    "concatenation",
)
CHECKSUM_ALGORITHMS = ("sha1", "sha256")
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
# Headers a browser client must be allowed to send and to read (CORS).
REQUEST_HEADERS = (
    "Authorization",
    "Content-Type",
    "Tus-Resumable",
    "Upload-Checksum",
    "Upload-Concat",
    "Upload-Defer-Length",
    "Upload-Length",
    "Upload-Metadata",
    "Upload-Offset",
    "X-HTTP-Method-Override",
    "X-Requested-With",
)
RESPONSE_HEADERS = (
    "Location",
    "Tus-Checksum-Algorithm",
    "Tus-Extension",
    "Tus-Max-Size",
    "Tus-Resumable",
    "Tus-Version",
    "Upload-Concat",
    "Upload-Defer-Length",
    "Upload-Expires",
    "Upload-Length",
    "Upload-Metadata",
    "Upload-Offset",
)


def check_version(value: str | None) -> None:
    if value != VERSION:
        raise AppError(
            412,
            "tus_version_unsupported",
            f"Send the header Tus-Resumable: {VERSION} (the only tus version served here).",
            headers={"Tus-Version": VERSION},
        )


def parse_length(value: str | None, header: str) -> int | None:
    if value is None:
        return None
    # ASCII digits only: "²".isdigit() is true, but int() refuses it.
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise AppError(
            400, "invalid_header", f"{header} must be a non-negative integer, not {value!r}."
        )
    return int(value)


def parse_metadata(value: str | None) -> dict[str, str]:
    """``key base64,key2 base64`` → {key: text}. Keys without a value map to ''."""
    result: dict[str, str] = {}
    if not value or not value.strip():
        return result
    for pair in value.split(","):
        bits = pair.strip().split(" ")
        key = bits[0]
        if not key or len(bits) > 2 or key in result:
            raise AppError(
                400,
                "invalid_metadata",
                "Upload-Metadata must be comma-separated `key base64value` pairs, keys unique.",
            )
        try:
            raw = base64.b64decode(bits[1], validate=True) if len(bits) == 2 else b""
            result[key] = raw.decode("utf-8")
        except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
            raise AppError(
                400,
                "invalid_metadata",
                f"The Upload-Metadata value of {key!r} is not base64-encoded UTF-8.",
            ) from exc
    return result


def encode_metadata(values: dict[str, str]) -> str:
    return ",".join(
        f"{key} {base64.b64encode(text.encode()).decode()}" if text else key
        for key, text in values.items()
    )


def parse_checksum(value: str) -> tuple[str, bytes]:
    """``sha1 <base64 digest>`` → (algorithm, digest)."""
    algorithm, _, encoded = value.strip().partition(" ")
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise AppError(
            400,
            "checksum_algorithm_unsupported",
            f"Upload-Checksum algorithm {algorithm!r} is not supported; use "
            + " or ".join(CHECKSUM_ALGORITHMS)
            + ".",
        )
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AppError(
            400, "invalid_header", "Upload-Checksum must be `algorithm base64digest`."
        ) from exc
    if len(digest) != hashlib.new(algorithm).digest_size:
        raise AppError(400, "invalid_header", f"That is not a {algorithm} digest.")
    return algorithm, digest


def parse_concat(value: str | None) -> tuple[Literal["partial", "final"], list[str]] | None:
    """``partial`` or ``final;/v1/tus/a /v1/tus/b`` → (kind, upload ids)."""
    if value is None:
        return None
    if value == "partial":
        return "partial", []
    if value.startswith("final;"):
        ids = [url.rstrip("/").rsplit("/", 1)[-1] for url in value[6:].split()]
        if ids and all(ids) and len(set(ids)) == len(ids):
            return "final", ids
    raise AppError(
        400,
        "invalid_header",
        "Upload-Concat must be `partial` or `final;<url> <url> ...` (distinct partial uploads).",
    )


def http_date(moment: dt.datetime) -> str:
    return format_datetime(moment.astimezone(dt.UTC), usegmt=True)
