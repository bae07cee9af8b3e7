"""Sign-ups are limited per address; weak account passwords are refused
with zxcvbn's advice; a strong one (and a very long one) is accepted."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from tests.factories import PASSWORD, assert_problem
from tests.integration.auth.conftest import running


def _signup_body(name: str, password: str = PASSWORD) -> dict[str, str]:
    return {"username": name, "email": f"{name}@example.com", "password": password}


def test_signups_per_address_are_limited(settings_factory: Any, counters_at: str) -> None:
    settings = settings_factory(run_worker=False, redis_url=counters_at, signup_rate_limit="3/hour")

    async def main() -> None:
        async with running(settings) as at:
            bot = at("198.51.100.7")
            for n in range(3):
                r = await bot.post("/v1/auth/signup", json=_signup_body(f"bot{n}"))
                assert r.status_code == 201, r.text
            r = await bot.post("/v1/auth/signup", json=_signup_body("bot3"))
            body = assert_problem(r, 429, "rate_limited")
            assert "3 per hour" in body["detail"]
            assert 1 <= int(r.headers["Retry-After"]) <= 3600
            # Refused before the account exists: that name is still free.
            r = await at("203.0.113.5").post("/v1/auth/signup", json=_signup_body("bot3"))
            assert r.status_code == 201, r.text

    anyio.run(main)


@pytest.mark.parametrize(
    ("password", "said"),
    [
        ("password12", "This is a very common password."),
        ("qwertyuiop", "common password"),
        ("margaret2026", "names"),
        ("zqxvplmkw-2026", "Add another word"),  # the username itself, and a year
    ],
)
def test_weak_passwords_are_refused(client: httpx.Client, password: str, said: str) -> None:
    r = client.post("/v1/auth/signup", json=_signup_body("zqxvplmkw", password))
    body = assert_problem(r, 422, "weak_password")
    assert body["detail"].startswith("This password is too easy to guess.")
    assert said in body["detail"]


def test_strong_passwords_are_accepted(client: httpx.Client) -> None:
    r = client.post("/v1/auth/signup", json=_signup_body("dora", "violet lantern orbit"))
    assert r.status_code == 201, r.text
    # zxcvbn refuses inputs over 72 characters: it sees only the start.
    long_one = "Tr0ub4dor&3 " + "x" * 1000
    r = client.post("/v1/auth/signup", json=_signup_body("erin", long_one))
    assert r.status_code == 201, r.text
    r = client.post("/v1/auth/login", json={"email": "erin@example.com", "password": long_one})
    assert r.status_code == 200, r.text
