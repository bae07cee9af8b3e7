"""argon2id password hashing, with a decoy for unknown accounts.

Login must take about as long for an unknown email as for a wrong password,
so an attacker cannot enumerate accounts by timing: unknown emails are
checked against a decoy hash of the same cost.
"""

from __future__ import annotations

import asyncio
import secrets
import weakref
from collections.abc import Callable
from functools import lru_cache
from typing import TypeVar, TypeVarTuple

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from imghost.concurrency import SLOTS, run_cpu_bound
from imghost.errors import AppError

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

# IMGHOST_PASSWORD_HASH_COST: argon2id with the library's RFC 9106 low-memory
# profile, or argon2's smallest parameters (~0.1 ms instead of ~100 ms of a core
# per hash) for test suites, which sign up and log in thousands of users.
# Settings refuse `minimal` in production. A hash made at one cost verifies at
# the other (its parameters are in the hash); a login rehashes it.
HASHERS = {
    "standard": PasswordHasher(),
    "minimal": PasswordHasher(time_cost=1, memory_cost=8, parallelism=1),
}
_hasher = HASHERS["standard"]

# Checks allowed to wait for a slot, beyond the SLOTS running: a flood beyond
# this is refused at once instead of making every login wait behind it (one
# check takes ~0.1 s of a core, so 32 waiting cost a newcomer ~1.6 s on two
# cores). Set from IMGHOST_PASSWORD_HASH_QUEUE when an app is built; per
# process, like the slots.
max_queue = 32
# Checks waiting or running, per event loop (the slots are per loop too).
_in_flight: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[int]] = (
    weakref.WeakKeyDictionary()
)


def set_max_queue(n: int) -> None:
    global max_queue
    max_queue = n


def set_cost(cost: str) -> None:
    """Hash new passwords at ``cost`` (a key of HASHERS); per process, like the queue."""
    global _hasher
    _hasher = HASHERS[cost]


async def _bounded(func: Callable[[*Ts], T], *args: *Ts) -> T:
    """``func`` on an argon2 slot, or 503 ``server_busy`` when the queue is full."""
    count = _in_flight.setdefault(asyncio.get_running_loop(), [0])
    if count[0] >= SLOTS + max_queue:
        raise AppError(
            503,
            "server_busy",
            "The server is checking too many passwords right now; try again in a second.",
            headers={"Retry-After": "1"},
        )
    count[0] += 1
    try:
        return await run_cpu_bound("argon2", func, *args)
    finally:
        count[0] -= 1


def _hash(password: str) -> str:
    return _hasher.hash(password)


async def hash_password(password: str) -> str:
    # ~100 ms of CPU: never on the event loop (argon2-cffi releases the GIL).
    return await _bounded(_hash, password)


@lru_cache(maxsize=len(HASHERS))
def _decoy_hash(hasher: PasswordHasher) -> str:
    # One per cost: the decoy must cost what a real account's check costs.
    return hasher.hash(secrets.token_urlsafe(24))


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; with no hash, spend the same time and fail."""
    return await _bounded(_verify, password_hash, password)


def _verify(password_hash: str | None, password: str) -> bool:
    hasher = _hasher
    try:
        return (
            hasher.verify(password_hash or _decoy_hash(hasher), password)
            and password_hash is not None
        )
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
