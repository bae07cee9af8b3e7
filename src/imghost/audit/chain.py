"""The chain's arithmetic, no I/O: the canonical encoding of an event, its hash,
and the keyed digests of its address and user agent.

``hash = SHA-256(bytes of the previous hash || canonical encoding)``. The
encoding is a JSON array (fixed order, sorted keys inside ``details``, ASCII,
no spaces), so the same row gives the same bytes on SQLite and PostgreSQL and
after any round trip through either. It holds the *digests* of the address and
user agent, never the plain values: scrubbing those (privacy) leaves every
hash as it was.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64  # the previous hash of the first event ever written
VERSION = 1  # of the encoding; bumped (and verified per row) if it ever changes


@dataclass(frozen=True)
class Fields:
    """What an event's hash covers."""

    id: int
    at: dt.datetime
    kind: str
    actor_id: str | None
    actor_kind: str
    address_digest: str | None
    user_agent_digest: str | None
    target_type: str | None
    target_id: str | None
    details: Mapping[str, Any]


def stamp(at: dt.datetime) -> str:
    """The time as hashed: UTC, microseconds (what both databases keep)."""
    return at.astimezone(dt.UTC).isoformat(timespec="microseconds")


def canonical(fields: Fields) -> bytes:
    return json.dumps(
        [
            VERSION,
            fields.id,
            stamp(fields.at),
            fields.kind,
            fields.actor_id,
            fields.actor_kind,
            fields.address_digest,
            fields.user_agent_digest,
            fields.target_type,
            fields.target_id,
            dict(fields.details),
        ],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        allow_nan=False,
    ).encode("ascii")


def link(prev_hash: str, fields: Fields) -> str:
    """The hash of an event written after ``prev_hash``."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical(fields)).hexdigest()


def digest(key: str, value: str | None) -> str | None:
    """The keyed digest of an address or user agent (None for None)."""
    if value is None:
        return None
    return hmac.new(
        bytes.fromhex(key), value.encode("utf-8", "surrogatepass"), "sha256"
    ).hexdigest()
