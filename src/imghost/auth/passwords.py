"""argon2id password hashing, with a decoy for unknown accounts.

Login must take about as long for an unknown email as for a wrong password,
so an attacker cannot enumerate accounts by timing: unknown emails are
checked against a decoy hash of the same cost.
"""

from __future__ import annotations

import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from imghost.concurrency import run_cpu_bound

_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 low-memory profile


def _hash(password: str) -> str:
    return _hasher.hash(password)


async def hash_password(password: str) -> str:
    # ~100 ms of CPU: never on the event loop (argon2-cffi releases the GIL).
    return await run_cpu_bound("argon2", _hash, password)


@lru_cache(maxsize=1)
def _decoy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(24))


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; with no hash, spend the same time and fail."""
    return await run_cpu_bound("argon2", _verify, password_hash, password)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return (
            _hasher.verify(password_hash or _decoy_hash(), password) and password_hash is not None
        )
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
