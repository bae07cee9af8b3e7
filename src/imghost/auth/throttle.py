"""Login throttling, the sign-up limit and the user-lookup limit: cheap checks first.

Failed logins are counted under three keys, each in a window of
:data:`FAILURE_WINDOW` seconds that starts with its first failure:

- **(account, address)**, the strict one: after ``login_free_failures`` wrong
  passwords, each further one makes that pair wait 1 s, then 2, 4, ... up to
  ``login_max_delay``. A right password from that address clears it.
- **address**, over all accounts (one address trying one password on many
  accounts): after ``login_address_free_failures``, the same doubling, but,
  like the account rule, not for an address the account signed in from.
- **account**, over all addresses (a guesser spread over many addresses):
  after ``login_account_free_failures``, the same doubling, but only for
  addresses the account has not signed in from during the last
  :data:`KNOWN_FOR` seconds. The real user's usual address keeps working, so
  an attacker cannot lock them out; from a new address they wait at most
  ``login_max_delay`` per attempt.

Addresses are counted as :func:`address_key` gives them (IPv6 by its /64).

Attempts in flight are claimed per key and count (given back when they
end): with ``k`` free failures left, at most ``k`` attempts (past them, one)
are checked at once, so a burst
of concurrent guesses cannot all slip in between a check and their failures;
the rest are refused like a throttled attempt, for a second. No wait is ever longer than
``login_max_delay``: the lock of a key expires on its own, and only an
attempt that was let through (and failed) can renew it.
A refused attempt is answered 429 ``login_throttled`` with ``Retry-After``
before the password is looked at, so it costs no argon2 time and does not
count. Accounts are keyed by the normalized email whether they exist or not
(the answer must not tell which), and by a digest, so Redis holds no emails.

Counters live where the rate limits' do (:class:`imghost.ratelimit.counters.Counters`):
in Redis when ``IMGHOST_REDIS_URL`` is set (shared by every process), else,
and during a Redis outage, in this process's memory.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import limits
from limits import RateLimitItem

from imghost.accounts.services import normalize_email
from imghost.auth.passwords import set_cost, set_max_queue
from imghost.errors import AppError
from imghost.ratelimit.counters import Counters, Window, _Backend
from imghost.settings import Settings

T = TypeVar("T")

FAILURE_WINDOW = 3600  # seconds failures are remembered from the first one
KNOWN_FOR = 30 * 86400  # seconds an address stays "known" after a sign-in
# How long a claim to try at one failure count lasts: longer than any password
# check takes (a crash mid-check frees the count then).
TRY_HOLD = 60
FIRST_DELAY = 1  # seconds of the first wait; each further failure doubles it
# The answers that count as a wrong password: a login's, a password
# change's check of the current password (a stolen token must not buy
# unthrottled guesses at the password behind it), and a wrong second-factor
# code (counted under the account's own key, ``auth.api``).
FAILURES = ("invalid_credentials", "wrong_password", "invalid_mfa_code")
_OFF = ("", "off", "none")


def parse_signup_limit(text: str) -> RateLimitItem | None:
    """``20/hour`` (or ``5/10 minutes``) as a ``limits`` item; None when off."""
    if text.strip().lower() in _OFF:
        return None
    try:
        item = limits.parse(text.strip())
    except ValueError as exc:
        raise ValueError(f"{text!r} is not AMOUNT/PERIOD, e.g. 20/hour") from exc
    if item.amount <= 0:
        raise ValueError(f"{text!r}: the amount must be positive")
    return item


def delay_after(failures: int, free: int, cap: int) -> int:
    """Seconds a key waits after its ``failures``-th failure (0 while free)."""
    over = failures - free
    if over <= 0:
        return 0
    # Exponent bounded so a huge count does not build a huge integer.
    return int(min(cap, FIRST_DELAY * 2 ** min(over - 1, 40)))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class _Store(Counters):
    """Plain keys with an expiry, over the rate limits' storage and fall-back."""

    async def bump(self, key: str, expiry: int, by: int = 1) -> Window:
        return await self._run(lambda backend: backend.incr(key, expiry, by))

    async def look(self, key: str) -> Window:
        return await self._run(lambda backend: backend.peek(key))

    async def forget(self, key: str) -> None:
        async def clear(backend: _Backend) -> None:
            await backend.storage.clear(key)

        await self._run(clear)


@dataclass(frozen=True)
class _Rule:
    name: str  # part of the keys: "pair", "address", "account"
    free: int


class LoginThrottle:
    """The three failure counters and their locks; one per process."""

    def __init__(self, settings: Settings) -> None:
        self.store = _Store(settings.redis_url)
        self.cap = settings.login_max_delay
        self.pair = _Rule("pair", settings.login_free_failures)
        self.address = _Rule("address", settings.login_address_free_failures)
        self.account = _Rule("account", settings.login_account_free_failures)
        self.signups = parse_signup_limit(settings.signup_rate_limit)
        self.mails_per_email = parse_signup_limit(settings.account_email_rate_limit)
        self.mails_per_address = parse_signup_limit(settings.account_email_address_rate_limit)
        self.lookups = parse_signup_limit(settings.user_lookup_rate_limit)
        # Password checks running or queued per client address, in this process
        # (the CPU slots they compete for are this process's too).
        self.per_address = settings.login_checks_per_address
        self._checking: dict[str, int] = {}
        # The queue bound and the hash cost are the password module's (it has no
        # settings of its own); one app per process in production, so these are its values.
        set_max_queue(settings.password_hash_queue)
        set_cost(settings.password_hash_cost)

    @staticmethod
    def _ids(email: str, address: str) -> tuple[str, str, str]:
        account = _digest(normalize_email(email))
        where = address_key(address)
        return f"{account}:{where}", where, account

    async def _admit(self, rule: _Rule, ident: str, claims: list[str]) -> int:
        """Seconds ``ident`` must still wait under ``rule``; 0: it may try now
        (and a claim to try was added to ``claims``)."""
        failures = (await self.store.look(f"login-fail:{rule.name}:{ident}")).count
        if delay_after(failures, rule.free, self.cap):
            # The lock of the latest failure: its key names the count, so
            # every failure makes a fresh key with its own expiry.
            lock = await self.store.look(f"login-lock:{rule.name}:{failures}:{ident}")
            if lock.count:
                return lock.reset_in()
            # The attempt that made this count may not have written its lock
            # yet (two round trips): while its claim is held, wait too.
            previous = f"login-try:{rule.name}:{failures - 1}:{ident}"
            if (await self.store.look(previous)).count:
                return 1
        # Attempts in flight have not failed yet: without a claim, a burst of
        # concurrent guesses would all pass between this check and their
        # failures. At each count, only the free failures left (at least one)
        # may be tried at once; the others wait a second.
        key = f"login-try:{rule.name}:{failures}:{ident}"
        claim = await self.store.bump(key, TRY_HOLD)
        claims.append(key)
        return 0 if claim.count <= max(1, rule.free - failures) else 1

    async def check(self, email: str, address: str) -> list[str]:
        """429 ``login_throttled`` while any of the caller's keys is locked;
        else the claims this attempt holds (give them back with :meth:`release`)."""
        pair, addr, account = self._ids(email, address)
        claims: list[str] = []
        try:
            wait = await self._admit(self.pair, pair, claims)
            if wait:
                raise _throttled(wait, "for this account from your address")
            # An address the account signed in from keeps only the pair rule:
            # others' failures from a shared (NAT, office) address or spread
            # over many addresses never hold the real user back there.
            if (await self.store.look(f"login-known:{pair}")).count:
                return claims
            wait = await self._admit(self.address, addr, claims)
            if wait:
                raise _throttled(wait, "from your address")
            wait = await self._admit(self.account, account, claims)
            if wait:
                raise _throttled(
                    wait,
                    "for this account; an address it has signed in from before is not held back",
                )
        except BaseException:
            await self.release(claims)
            raise
        return claims

    async def release(self, claims: list[str]) -> None:
        for key in claims:
            await self.store.bump(key, TRY_HOLD, -1)

    async def failed(self, email: str, address: str) -> None:
        pair, addr, account = self._ids(email, address)
        for rule, ident in ((self.pair, pair), (self.address, addr), (self.account, account)):
            failures = await self.store.bump(f"login-fail:{rule.name}:{ident}", FAILURE_WINDOW)
            delay = delay_after(failures.count, rule.free, self.cap)
            if delay:
                await self.store.bump(f"login-lock:{rule.name}:{failures.count}:{ident}", delay)

    async def succeeded(self, email: str, address: str) -> None:
        pair, _, _ = self._ids(email, address)
        await self.store.forget(f"login-fail:pair:{pair}")
        await self.store.forget(f"login-known:{pair}")  # a fresh expiry from now
        await self.store.bump(f"login-known:{pair}", KNOWN_FOR)

    async def guard(self, email: str, address: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """Run one login ``attempt`` under the throttle: refused while locked,
        counted when it fails with ``invalid_credentials``."""
        address = address_key(address)
        if self._checking.get(address, 0) >= self.per_address:
            # Checked before the counters: a burst from one address is turned
            # away without a store round trip, and the real user elsewhere
            # keeps the CPU slots.
            raise AppError(
                429,
                "login_throttled",
                "Too many logins from your address at once. Try again in 1 second.",
                headers={"Retry-After": "1"},
                retryAfter=1,
            )
        self._checking[address] = self._checking.get(address, 0) + 1  # before any await
        claims: list[str] = []
        try:
            claims = await self.check(email, address)
            try:
                result = await attempt()
            except AppError as exc:
                if exc.code in FAILURES:
                    await self.failed(email, address)
                raise
            await self.succeeded(email, address)
            return result
        finally:
            left = self._checking.pop(address) - 1
            if left:
                self._checking[address] = left
            await self.release(claims)

    async def signup(self, address: str) -> None:
        """Count one sign-up attempt from ``address``; 429 ``rate_limited`` past the limit."""
        if self.signups is None:
            return
        window = await self.store.incr(self.signups, f"signup:{address_key(address)}", 1)
        if window.count > self.signups.amount:
            retry = window.reset_in()
            raise AppError(
                429,
                "rate_limited",
                f"Too many sign-ups from your address: {self.signups.amount} per "
                f"{_period(self.signups)} are allowed; try again in {retry} seconds.",
                headers={"Retry-After": str(retry)},
            )

    async def account_email(self, email: str, address: str) -> None:
        """Count one request for a password-reset or verification e-mail to
        ``email`` from ``address``; 429 ``rate_limited`` past either limit.

        Counted whether or not an account has the address, so the limit says
        nothing about which addresses are registered.
        """
        for item, key, whom in (
            (self.mails_per_address, f"mail-from:{address_key(address)}", "from your address"),
            (self.mails_per_email, f"mail-to:{_digest(normalize_email(email))}", "for this e-mail"),
        ):
            if item is None:
                continue
            window = await self.store.incr(item, key, 1)
            if window.count > item.amount:
                retry = window.reset_in()
                raise AppError(
                    429,
                    "rate_limited",
                    f"Too many account e-mails asked for {whom}: {item.amount} per "
                    f"{_period(item)} are allowed; try again in {retry} seconds.",
                    headers={"Retry-After": str(retry)},
                )

    async def lookup(self, user_id: str) -> None:
        """Count one user lookup by ``user_id``; 429 ``rate_limited`` past the limit.

        Per account, not per address: lookups need a sign-in, and an
        enumerator with many addresses still has one account to spend.
        """
        if self.lookups is None:
            return
        window = await self.store.incr(self.lookups, f"user-lookup:{user_id}", 1)
        if window.count > self.lookups.amount:
            retry = window.reset_in()
            raise AppError(
                429,
                "rate_limited",
                f"Too many user lookups: {self.lookups.amount} per "
                f"{_period(self.lookups)} are allowed; try again in {retry} seconds.",
                headers={"Retry-After": str(retry)},
            )

    async def close(self) -> None:
        await self.store.close()


def address_key(address: str) -> str:
    """The client address as throttles count it: an IPv6 address by its /64,
    the block one subscriber is routinely given (rotating inside it must not
    buy fresh counters)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6 and ip.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return address


def _period(item: RateLimitItem) -> str:
    unit = item.GRANULARITY.name
    return unit if item.multiples == 1 else f"{item.multiples} {unit}s"


def _throttled(wait: int, whom: str) -> AppError:
    return AppError(
        429,
        "login_throttled",
        f"Too many failed logins {whom}. Try again in {wait} seconds.",
        headers={"Retry-After": str(wait)},
        retryAfter=wait,
    )
