"""Failed logins are throttled per (account, address), per address and per
account, with doubling waits that end after their cap; the real user, from
another address or from one they signed in from before, still gets in."""

from __future__ import annotations

import time
from typing import Any

import anyio
import httpx
import pytest

from imghost.auth import services
from tests.factories import PASSWORD, assert_problem
from tests.integration.auth.conftest import running

VICTIM = "victim@example.com"


async def _signup(client: httpx.AsyncClient, name: str = "victim") -> None:
    r = await client.post(
        "/v1/auth/signup",
        json={"username": name, "email": f"{name}@example.com", "password": PASSWORD},
    )
    assert r.status_code == 201, r.text


async def _login(client: httpx.AsyncClient, password: str, email: str = VICTIM) -> httpx.Response:
    return await client.post("/v1/auth/login", json={"email": email, "password": password})


async def _token(client: httpx.AsyncClient, password: str, email: str = VICTIM) -> httpx.Response:
    return await client.post("/v1/auth/token", data={"username": email, "password": password})


def _throttled(r: httpx.Response) -> int:
    body = assert_problem(r, 429, "login_throttled")
    assert "Too many failed logins" in body["detail"]
    wait = int(r.headers["Retry-After"])
    assert body["retryAfter"] == wait
    return wait


def test_wrong_passwords_wait_longer_each_time_up_to_the_cap(
    settings_factory: Any, counters_at: str
) -> None:
    settings = settings_factory(
        run_worker=False, redis_url=counters_at, login_free_failures=3, login_max_delay=2
    )

    async def main() -> None:
        async with running(settings) as at:
            attacker = at("198.51.100.7")
            await _signup(attacker)
            for _ in range(3):  # the free failures, both routes count
                assert_problem(await _token(attacker, "guess guess"), 401, "invalid_credentials")
            # The 4th is still checked (and fails); from then on, waits double.
            assert_problem(await _login(attacker, "guess guess"), 401, "invalid_credentials")
            assert _throttled(await _login(attacker, "guess guess")) == 1
            # Refused before the password is looked at: the right one too.
            assert _throttled(await _token(attacker, PASSWORD)) == 1
            await anyio.sleep(1.1)
            assert_problem(await _login(attacker, "guess guess"), 401, "invalid_credentials")
            assert _throttled(await _login(attacker, "guess guess")) == 2
            await anyio.sleep(2.1)
            assert_problem(await _login(attacker, "guess guess"), 401, "invalid_credentials")
            assert _throttled(await _login(attacker, "guess guess")) == 2  # the cap
            await anyio.sleep(2.1)
            # The wait ended by itself: the right password gets in.
            r = await _login(attacker, PASSWORD)
            assert r.status_code == 200, r.text

    anyio.run(main)


def test_the_real_user_still_gets_in(settings_factory: Any, counters_at: str) -> None:
    settings = settings_factory(
        run_worker=False,
        redis_url=counters_at,
        login_free_failures=2,
        login_account_free_failures=6,
    )

    async def main() -> None:
        async with running(settings) as at:
            home = at("192.0.2.10")
            await _signup(home)
            assert (await _login(home, PASSWORD)).status_code == 200  # a known address now
            attacker = at("198.51.100.7")
            for _ in range(3):
                assert_problem(await _login(attacker, "guess guess"), 401, "invalid_credentials")
            _throttled(await _login(attacker, PASSWORD))
            # Another address is not held back by the attacker's pair.
            r = await _login(at("203.0.113.5"), PASSWORD)
            assert r.status_code == 200, r.text
            # Guesses from many addresses pass the account's free failures:
            # a new address now waits, the user's own address does not.
            for n in range(4):
                r = await _login(at(f"198.51.100.{20 + n}"), "guess guess")
                assert_problem(r, 401, "invalid_credentials")
            r = await _login(at("203.0.113.99"), PASSWORD)
            body = assert_problem(r, 429, "login_throttled")
            assert "signed in from before" in body["detail"]
            r = await _login(home, PASSWORD)
            assert r.status_code == 200, r.text

    anyio.run(main)


def test_one_address_trying_many_accounts_waits(settings_factory: Any) -> None:
    settings = settings_factory(run_worker=False, login_address_free_failures=3)

    async def main() -> None:
        async with running(settings) as at:
            sprayer = at("198.51.100.7")
            for n in range(3):
                r = await _login(sprayer, "Summer2026!", email=f"user{n}@example.com")
                assert_problem(r, 401, "invalid_credentials")
            r = await _login(sprayer, "Summer2026!", email="user9@example.com")
            assert_problem(r, 401, "invalid_credentials")
            r = await _login(sprayer, "Summer2026!", email="user10@example.com")
            assert "from your address" in assert_problem(r, 429, "login_throttled")["detail"]

    anyio.run(main)


@pytest.mark.standard_password_hash
def test_a_flood_of_wrong_logins_does_not_slow_another_address(
    settings_factory: Any, counters_at: str
) -> None:
    """100 concurrent wrong logins from one address: only the free failures
    are hashed, the rest are refused at once, and a real login from elsewhere
    takes a few password checks' time. (Before: all 100 were hashed, and the
    real login queued behind them: ~50 checks' time on two cores.)"""
    settings = settings_factory(run_worker=False, redis_url=counters_at)

    async def main() -> None:
        async with running(settings) as at:
            await _signup(at("192.0.2.10"))
            # One login's time on this machine now (argon2 dominates it).
            start = time.perf_counter()
            assert (await _login(at("192.0.2.11"), PASSWORD)).status_code == 200
            alone = time.perf_counter() - start
            attacker = at("198.51.100.7")
            statuses: list[int] = []

            async def guess() -> None:
                statuses.append((await _login(attacker, "guess guess")).status_code)

            async with anyio.create_task_group() as flood:
                for _ in range(100):
                    flood.start_soon(guess)
                await anyio.sleep(0)  # the flood is in
                start = time.perf_counter()
                r = await _login(at("203.0.113.5"), PASSWORD)
                elapsed = time.perf_counter() - start
                assert r.status_code == 200, r.text
            assert elapsed < 15 * alone + 1, f"{elapsed:.2f}s during the flood, {alone:.2f}s alone"
            assert statuses.count(401) <= 6  # the free failures, then one at a time
            assert statuses.count(429) >= 94

    anyio.run(main)


def test_no_database_connection_is_held_while_a_password_is_checked(
    settings_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checks waiting for a CPU slot hold no pooled connection, so a flood of
    logins from many addresses (each within its free failures) cannot empty
    the pool for everyone else. (Before: each waiting check held one, and
    past the pool's size requests answered 500 "QueuePool limit reached".)"""
    settings = settings_factory(run_worker=False)
    flood = 8
    inside = 0
    all_inside = anyio.Event()
    release = anyio.Event()

    async def slow_check(password_hash: str | None, password: str) -> bool:
        nonlocal inside
        inside += 1
        if inside == flood:
            all_inside.set()
        await release.wait()
        return False

    async def main() -> None:
        async with running(settings) as at:
            monkeypatch.setattr(services, "verify_password", slow_check)
            statuses: list[int] = []

            async def guess(n: int) -> None:
                r = await _login(at(f"198.51.100.{n}"), "guess guess", email=f"u{n}@example.com")
                statuses.append(r.status_code)

            with anyio.fail_after(30):
                async with anyio.create_task_group() as group:
                    for n in range(flood):
                        group.start_soon(guess, n)
                    await all_inside.wait()
                    held = at.app.state.ctx.engine.pool.checkedout()
                    release.set()
            assert held == 0, f"{held} connections held by waiting password checks"
            assert statuses == [401] * flood

    anyio.run(main)


def test_one_address_has_at_most_its_share_of_password_checks(
    settings_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten concurrent logins from one address, all within their free failures:
    only ``login_checks_per_address`` reach the password check, the rest are
    refused at once, and another address still gets a check of its own.
    (Before: five per account and twenty per address were checked at once,
    filling the CPU slots and the queue other people's logins wait in.)"""
    settings = settings_factory(run_worker=False, login_checks_per_address=2)
    inside: list[str] = []
    two_inside = anyio.Event()
    three_inside = anyio.Event()
    release = anyio.Event()

    async def slow_check(password_hash: str | None, password: str) -> bool:
        inside.append(password)
        if len(inside) == 2:
            two_inside.set()
        if len(inside) == 3:
            three_inside.set()
        await release.wait()
        return False

    async def main() -> None:
        async with running(settings) as at:
            monkeypatch.setattr(services, "verify_password", slow_check)
            attacker = at("198.51.100.7")
            statuses: list[int] = []

            async def guess(n: int) -> None:
                r = await _login(attacker, "guess guess", email=f"u{n}@example.com")
                statuses.append(r.status_code)

            async def guess_elsewhere() -> None:
                r = await _login(at("203.0.113.5"), "not it", email="x@example.com")
                statuses.append(r.status_code)

            with anyio.fail_after(30):
                async with anyio.create_task_group() as group:
                    for n in range(10):
                        group.start_soon(guess, n)
                    await two_inside.wait()
                    # The eight others were turned away before any check.
                    while len(statuses) < 8:
                        await anyio.sleep(0.01)
                    assert statuses == [429] * 8
                    # Another address is checked even while the attacker's two are.
                    group.start_soon(guess_elsewhere)
                    await three_inside.wait()
                    release.set()
            assert sorted(statuses) == [401, 401, 401] + [429] * 8
            assert inside.count("guess guess") == 2 and inside[2] == "not it"

    anyio.run(main)
