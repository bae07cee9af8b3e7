"""Access tokens (JWT, HS256 only), and opaque secrets stored as hashes.

The accepted algorithm list is fixed: a token whose header says ``none``,
``RS256`` or anything but HS256 is rejected before its signature is looked at,
which closes the ``alg:none`` and algorithm-confusion attacks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

import jwt

ALGORITHM = "HS256"
ISSUER = "imghost"
REFRESH_PREFIX = "ihr_"
API_KEY_PREFIX = "ihk_"
# A sign-in challenge waiting for its second factor.
MFA_TOKEN_PREFIX = "ihm_"  # noqa: S105 - a prefix, not a secret


class InvalidToken(Exception):
    pass


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    session_id: str
    expires_at: dt.datetime


def issue_access_token(
    secret: str, user_id: str, session_id: str, ttl: int, now: dt.datetime
) -> str:
    payload = {
        "iss": ISSUER,
        "sub": user_id,
        "sid": session_id,
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + ttl,
        "typ": "access",
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def decode_access_token(secret: str, token: str) -> AccessClaims:
    try:
        header = jwt.get_unverified_header(token)
        if header.get("alg") != ALGORITHM:
            raise InvalidToken("unexpected algorithm")
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "sid", "iss"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    if payload.get("typ") != "access":
        raise InvalidToken("not an access token")
    return AccessClaims(
        user_id=str(payload["sub"]),
        session_id=str(payload["sid"]),
        expires_at=dt.datetime.fromtimestamp(payload["exp"], dt.UTC),
    )


def new_secret(prefix: str) -> str:
    """An opaque credential: prefix + 256 random bits."""
    return prefix + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    # Secrets carry 256 random bits, so a fast hash is safe here (no brute force).
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
