"""HTTP caching and range semantics (RFC 9110) for immutable blobs.

Pure functions over header values, so they are easy to test exhaustively.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from email.utils import format_datetime, parsedate_to_datetime


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # exclusive

    @property
    def length(self) -> int:
        return self.end - self.start

    def content_range(self, total: int) -> str:
        return f"bytes {self.start}-{self.end - 1}/{total}"


class Unsatisfiable(Exception):
    pass


def http_date(value: dt.datetime) -> str:
    return format_datetime(value.astimezone(dt.UTC).replace(microsecond=0), usegmt=True)


def parse_http_date(value: str) -> dt.datetime | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _etags(header: str) -> list[str]:
    return [t.strip() for t in header.split(",") if t.strip()]


def _weak_equal(a: str, b: str) -> bool:
    return a.removeprefix("W/") == b.removeprefix("W/")


def not_modified(
    etag: str, last_modified: dt.datetime, if_none_match: str | None, if_modified_since: str | None
) -> bool:
    """True when a GET/HEAD can be answered 304 (If-None-Match wins over the date)."""
    if if_none_match is not None:
        tags = _etags(if_none_match)
        return "*" in tags or any(_weak_equal(t, etag) for t in tags)
    if if_modified_since is not None:
        since = parse_http_date(if_modified_since)
        if since is not None:
            return last_modified.replace(microsecond=0) <= since
    return False


def range_applies(etag: str, last_modified: dt.datetime, if_range: str | None) -> bool:
    """If-Range: serve the range only if the representation is unchanged."""
    if if_range is None:
        return True
    value = if_range.strip()
    if value.startswith(('"', "W/")):
        return value == etag and not value.startswith("W/")  # strong comparison
    date = parse_http_date(value)
    return date is not None and last_modified.replace(microsecond=0) == date


def parse_range(header: str | None, total: int) -> ByteRange | None:
    """One byte range, or None to send the whole body.

    Several ranges are answered with the whole body (allowed by RFC 9110 and
    far simpler than multipart/byteranges); malformed headers are ignored as
    the RFC asks. Raises Unsatisfiable when no requested byte exists.
    """
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or not spec.strip():
        return None
    parts = [p.strip() for p in spec.split(",")]
    if len(parts) != 1:
        return None
    first, dash, last = parts[0].partition("-")
    if not dash:
        return None
    try:
        if first == "":
            suffix = int(last)
            if suffix < 0:
                return None
            if suffix == 0 or total == 0:
                raise Unsatisfiable
            return ByteRange(max(total - suffix, 0), total)
        start = int(first)
        last_byte = int(last) if last else None
    except ValueError:
        return None
    if start < 0 or (last_byte is not None and last_byte < start):
        return None  # syntactically invalid (e.g. bytes=5-2): ignore the header
    if start >= total:
        raise Unsatisfiable
    end = total if last_byte is None else min(last_byte + 1, total)
    return ByteRange(start, end)
