"""Failed sign-ins are aggregated: a flood writes a few events and one
aggregate, never one event per request."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from imghost.audit import floods
from imghost.audit.models import AuditEvent, AuditFlood
from imghost.context import AppContext
from imghost.settings import Settings
from tests.conftest import LiveServer
from tests.factories import PASSWORD, make_user
from tests.helpers.context import with_ctx
from tests.helpers.db import fetch
from tests.integration.audit.helpers import admin_events, make_admin, run_cli

FLOOD = 12


@pytest.fixture
def settings(settings_factory: Any) -> Settings:
    # The throttle out of the way: every attempt of the flood is a password check.
    return settings_factory(  # type: ignore[no-any-return]
        login_free_failures=1000,
        login_address_free_failures=1000,
        login_account_free_failures=1000,
    )


def _fail(client: httpx.Client, email: str, times: int) -> None:
    for _ in range(times):
        r = client.post("/v1/auth/login", json={"email": email, "password": "wrong" * 3})
        assert r.status_code == 401, r.text


def _count(settings: Settings, kind: str) -> int:
    rows = fetch(
        settings, select(func.count()).select_from(AuditEvent).where(AuditEvent.kind == kind)
    )
    return int(rows[0][0])


def test_a_flood_then_a_sign_in(client: httpx.Client, live: LiveServer) -> None:
    admin = make_admin(client, live.settings)
    ann = make_user(client)
    _fail(client, ann.email, FLOOD)
    failed = admin_events(client, admin, kind="auth.login_failed")
    # the first few one by one, the rest only counted
    assert sorted(e["details"]["attempt"] for e in failed) == list(range(1, floods.FREE + 1))
    assert {(e["target"]["id"], e["address"]) for e in failed} == {(ann.user_id, "127.0.0.1")}
    counted = fetch(live.settings, select(AuditFlood.count))
    assert [r[0] for r in counted] == [FLOOD]
    # the next sign-in writes the aggregate before its own event
    r = client.post("/v1/auth/login", json={"email": ann.email, "password": PASSWORD})
    assert r.status_code == 200
    latest = admin_events(client, admin, target=f"user:{ann.user_id}")[:2]
    assert [e["kind"] for e in latest] == ["auth.login", "auth.login_failed"]
    aggregate = latest[1]["details"]
    assert aggregate["aggregate"] is True
    assert aggregate["count"] == FLOOD - floods.FREE
    assert aggregate["stage"] == "password"
    assert aggregate["firstAt"] <= aggregate["lastAt"]
    assert fetch(live.settings, select(AuditFlood.key)) == []
    assert _count(live.settings, "auth.login_failed") == floods.FREE + 1
    # after the sign-in a new failure is again one of the first few
    _fail(client, ann.email, 1)
    assert admin_events(client, admin, kind="auth.login_failed")[0]["details"]["attempt"] == 1
    result = run_cli(live.settings, "audit", "verify")
    assert result.exit_code == 0, result.output


def test_a_flood_on_an_unknown_account_is_closed_by_the_maintenance_pass(
    client: httpx.Client, live: LiveServer
) -> None:
    admin = make_admin(client, live.settings)
    _fail(client, "nobody-at-all@example.com", 5)
    failed = admin_events(client, admin, kind="auth.login_failed")
    assert len(failed) == floods.FREE
    assert {e["target"] is None for e in failed} == {True}
    assert {e["details"]["account"] for e in failed} == {"unknown"}
    assert "nobody" not in str(fetch(live.settings, select(AuditFlood.key)))

    async def close(ctx: AppContext, ended_by: dt.datetime) -> int:
        async with ctx.sessions() as session:
            closed = await floods.close(session, ended_by=ended_by)
            await session.commit()
            return closed

    now = dt.datetime.now(dt.UTC)
    # the window has not ended yet: nothing is closed
    assert with_ctx(live.settings, lambda ctx: close(ctx, now)) == 0
    later = now + dt.timedelta(seconds=2 * floods.WINDOW)
    assert with_ctx(live.settings, lambda ctx: close(ctx, later)) == 1
    aggregate = admin_events(client, admin, kind="auth.login_failed")[0]
    assert aggregate["details"]["aggregate"] is True and aggregate["details"]["count"] == 2
    assert aggregate["address"] == "127.0.0.1" and aggregate["target"] is None
    assert with_ctx(live.settings, lambda ctx: close(ctx, later)) == 0  # closed once


def test_wrong_second_factor_codes_are_failures_too(client: httpx.Client, live: LiveServer) -> None:
    import pyotp

    admin = make_admin(client, live.settings)
    ann = make_user(client)
    r = client.post("/v1/users/me/mfa/totp", json={"password": PASSWORD}, headers=ann.headers)
    totp = pyotp.TOTP(r.json()["secret"])
    r = client.post("/v1/users/me/mfa/totp/confirm", json={"code": totp.now()}, headers=ann.headers)
    assert r.status_code == 200
    r = client.post("/v1/auth/login", json={"email": ann.email, "password": PASSWORD})
    token = r.json()["mfaToken"]
    r = client.post("/v1/auth/mfa", json={"mfaToken": token, "code": "000000"})
    assert r.status_code == 401
    failed = admin_events(client, admin, kind="auth.login_failed")
    assert [(e["details"]["stage"], e["target"]["id"]) for e in failed] == [("mfa", ann.user_id)]
    r = client.post(
        "/v1/auth/mfa",
        json={
            "mfaToken": token,
            "code": totp.at(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)),
        },
    )
    assert r.status_code == 200, r.text
    login = admin_events(client, admin, kind="auth.login", actor=ann.user_id)[0]
    assert login["details"]["method"] == "mfa"


def test_throttled_attempts_write_nothing(settings_factory: Any) -> None:
    """With the throttle as shipped, the attempts it refuses (429) cost no
    database write: only the password checks it let through are counted."""
    strict = settings_factory(login_free_failures=2)
    with LiveServer(strict) as server, httpx.Client(base_url=server.url, timeout=60) as own:
        ann = make_user(own)
        answers = [
            own.post(
                "/v1/auth/login", json={"email": ann.email, "password": "wrong" * 3}
            ).status_code
            for _ in range(15)
        ]
    checked, refused = answers.count(401), answers.count(429)
    assert checked + refused == 15 and refused > 0
    assert _count(strict, "auth.login_failed") == min(checked, floods.FREE)
    counted = fetch(strict, select(AuditFlood.count))
    assert [r[0] for r in counted] == [checked]
