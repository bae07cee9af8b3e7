"""Webhook signatures: ``Imghost-Signature: t=<unix>,v1=<hex>``.

``v1`` is the hex HMAC-SHA256, keyed with the webhook's secret, of
``f"{t}." + body`` (the raw body bytes). The timestamp is signed too, so a
receiver that refuses old ``t`` values (say, over 5 minutes) also refuses
replays. The MAC comes from the one signer of :mod:`imghost.signing`, with
the webhook's secret as its only key.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from imghost.signing import WEBHOOK, SigningKeys
from imghost.signing import sign as sign_fields
from imghost.signing import verify as verify_fields

HEADER = "Imghost-Signature"
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def payload_bytes(payload: dict[str, Any]) -> bytes:
    """Compact JSON, keys sorted: the same notification gives the same bytes."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    _, mac = sign_fields(SigningKeys.single(secret), WEBHOOK, str(t), body)
    return f"t={t},v1={mac}"


def verify(secret: str, body: bytes, header: str, tolerance: int = 300) -> bool:
    """What a receiver does (and what the tests do)."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        fields.setdefault(key, []).append(value)
    try:
        t = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - t) > tolerance:
        return False
    keys = SigningKeys.single(secret)
    return any(
        verify_fields(keys, WEBHOOK, keys.current, v, str(t), body) for v in fields.get("v1", [])
    )
