"""Whose budget a request spends: a user (and their plan), or a client address.

Resolved before the route runs and without the route's authentication, as
cheaply as possible, because views are the hot path:

- an access token (JWT) is verified with the secret key: no I/O;
- an API key is looked up once and then cached in this process for
  :data:`CACHE_TTL` seconds (a revoked key keeps counting against its owner
  for at most that long; the route itself still refuses it at once);
- the plan of a user is cached the same way, so a plan change applies to
  rate limits within :data:`CACHE_TTL` seconds in every process;
- anything else (no credentials, an invalid or expired one, a share link or
  a signed URL) counts against the client address: the socket peer, or the
  address uvicorn took from ``X-Forwarded-For`` when the peer is a trusted
  proxy (``IMGHOST_TRUSTED_PROXIES``, see imghost.proxies; none by default).
  The routes agree: they refuse such a credential (401) or, for the bytes of a
  public or unlisted image, serve the request as an anonymous one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import select
from starlette.types import Scope

from imghost.accounts.models import User
from imghost.auth.models import ApiKey
from imghost.auth.tokens import API_KEY_PREFIX, InvalidToken, decode_access_token, hash_secret
from imghost.reads import FastReader

CACHE_TTL = 60.0  # seconds
_CACHE_SIZE = 10_000
DEFAULT_PLAN = "free"

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """A small per-process cache whose entries live ``ttl`` seconds."""

    def __init__(self, ttl: float = CACHE_TTL, size: int = _CACHE_SIZE) -> None:
        self.ttl = ttl
        self.size = size
        self.entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> tuple[bool, V | None]:
        found = self.entries.get(key)
        if found is None:
            return False, None
        expires, value = found
        if expires <= time.monotonic():
            del self.entries[key]
            return False, None
        return True, value

    def put(self, key: K, value: V) -> None:
        now = time.monotonic()
        if len(self.entries) >= self.size:
            self.entries = {k: v for k, v in self.entries.items() if v[0] > now}
            if len(self.entries) >= self.size:
                self.entries.clear()  # flooded with distinct keys: start over
        self.entries[key] = (now + self.ttl, value)


@dataclass(frozen=True)
class Identity:
    key: str  # the counters' identifier: "user:<id>" or "ip:<address>"
    user_id: str | None
    plan: str | None  # None for anonymous callers

    @property
    def anonymous(self) -> bool:
        return self.user_id is None


def bearer_token(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            text: str = value.decode("latin-1")
            scheme, _, token = text.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


async def plan_of(reads: FastReader, user_id: str) -> str:
    """The user's plan (``free`` or ``premium``): the one place plans are read."""
    row = await reads.first(select(User.plan).where(User.id == user_id))
    return str(row[0]) if row is not None and row[0] else DEFAULT_PLAN


async def _api_key_owner(reads: FastReader, token: str) -> str | None:
    row = await reads.first(
        select(ApiKey.user_id).where(
            ApiKey.key_hash == hash_secret(token), ApiKey.revoked_at.is_(None)
        )
    )
    return str(row[0]) if row is not None else None


class Identities:
    def __init__(self, secret_key: str) -> None:
        self.secret_key = secret_key
        self.api_keys: TtlCache[str, str | None] = TtlCache()
        self.plans: TtlCache[str, str] = TtlCache()

    async def resolve(self, scope: Scope, reads: FastReader) -> Identity:
        user_id = await self._user_id(scope, reads)
        if user_id is None:
            return Identity(f"ip:{client_address(scope)}", None, None)
        hit, plan = self.plans.get(user_id)
        if not hit or plan is None:
            plan = await plan_of(reads, user_id)
            self.plans.put(user_id, plan)
        return Identity(f"user:{user_id}", user_id, plan)

    async def _user_id(self, scope: Scope, reads: FastReader) -> str | None:
        token = bearer_token(scope)
        if token is None:
            return None
        if token.startswith(API_KEY_PREFIX):
            digest = hash_secret(token)
            hit, owner = self.api_keys.get(digest)
            if not hit:
                owner = await _api_key_owner(reads, token)
                self.api_keys.put(digest, owner)
            return owner
        try:
            return decode_access_token(self.secret_key, token).user_id
        except InvalidToken:
            return None
