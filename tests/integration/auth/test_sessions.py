"""The session list: sessions and API keys with their last use, and ending them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from sqlalchemy import select, update

from imghost.auth.models import ApiKey, AuthSession
from tests.conftest import LiveServer
from tests.factories import PASSWORD, assert_problem, make_user
from tests.helpers.db import fetch, run_sql
from tests.integration.auth.helpers import api_key, bearer, login, me


def _list(client: httpx.Client, headers: dict[str, str]) -> dict[str, Any]:
    r = client.get("/v1/users/me/sessions", headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_list_shows_sessions_and_keys_with_their_last_use(client: httpx.Client) -> None:
    user = make_user(client)
    phone = client.post(
        "/v1/auth/login",
        json={"email": user.email, "password": PASSWORD},
        headers={"User-Agent": "imghost-phone/2.1"},
    ).json()
    key = api_key(client, user)
    assert me(client, bearer(key["key"])).status_code == 200  # the key's first use

    listed = _list(client, bearer(phone["accessToken"]))
    sessions = listed["sessions"]
    assert len(sessions) == 2
    [current] = [s for s in sessions if s["current"]]
    assert current["userAgent"] == "imghost-phone/2.1"
    assert current["createdAddress"] == "127.0.0.1"
    # This very request is a use of the session: written before the route ran.
    assert current["lastUsedAt"] and current["lastUsedAddress"] == "127.0.0.1"
    assert set(current) == {
        "sessionId", "createdAt", "createdAddress", "userAgent", "lastUsedAt",
        "lastUsedAddress", "current",
    }  # fmt: skip
    [listed_key] = listed["apiKeys"]
    assert listed_key["keyId"] == key["keyId"] and listed_key["current"] is False
    assert listed_key["lastUsedAt"] and listed_key["lastUsedAddress"] == "127.0.0.1"
    assert "key" not in listed_key  # the secret is shown once, at creation
    # Seen from the key, the key is the current credential.
    by_key = _list(client, bearer(key["key"]))
    assert [k["current"] for k in by_key["apiKeys"]] == [True]
    assert not any(s["current"] for s in by_key["sessions"])


def test_revoking_a_session_refuses_its_access_token_at_once(client: httpx.Client) -> None:
    user = make_user(client)
    other = login(client, user.email, PASSWORD)
    sessions = _list(client, user.headers)["sessions"]
    [other_id] = [s["sessionId"] for s in sessions if not s["current"]]

    url = f"/v1/users/me/sessions/{other_id}"
    assert client.delete(url, headers=user.headers).status_code == 204
    assert_problem(me(client, bearer(other["accessToken"])), 401, "invalid_token")
    refreshed = client.post("/v1/auth/refresh", json={"refreshToken": other["refreshToken"]})
    assert_problem(refreshed, 401, "invalid_refresh_token")
    assert [s["current"] for s in _list(client, user.headers)["sessions"]] == [True]
    # Gone already, unknown, or someone else's: one answer.
    assert_problem(client.delete(url, headers=user.headers), 404, "not_found")
    stranger = make_user(client)
    [theirs] = _list(client, stranger.headers)["sessions"]
    mine = f"/v1/users/me/sessions/{theirs['sessionId']}"
    assert_problem(client.delete(mine, headers=user.headers), 404, "not_found")
    assert me(client, stranger.headers).status_code == 200
    assert_problem(client.get("/v1/users/me/sessions"), 401, "unauthorized")
    # Ending the caller's own session is a logout.
    [own] = _list(client, user.headers)["sessions"]
    own_url = f"/v1/users/me/sessions/{own['sessionId']}"
    assert client.delete(own_url, headers=user.headers).status_code == 204
    assert_problem(me(client, user.headers), 401, "invalid_token")


def test_revoke_all_but_the_current_one(client: httpx.Client) -> None:
    user = make_user(client)
    others = [login(client, user.email, PASSWORD) for _ in range(2)]
    key = api_key(client, user)

    r = client.post("/v1/users/me/sessions/revoke-others", headers=user.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"revokedSessions": 2, "revokedApiKeys": 0}
    for other in others:
        assert_problem(me(client, bearer(other["accessToken"])), 401, "invalid_token")
    assert me(client, user.headers).status_code == 200
    assert me(client, bearer(key["key"])).status_code == 200

    # With the API keys too; called with a key, that key is the one kept.
    second = api_key(client, user)
    r = client.post(
        "/v1/users/me/sessions/revoke-others",
        json={"includeApiKeys": True},
        headers=bearer(second["key"]),
    )
    assert r.json() == {"revokedSessions": 1, "revokedApiKeys": 1}
    assert_problem(me(client, user.headers), 401, "invalid_token")
    assert_problem(me(client, bearer(key["key"])), 401, "invalid_token")
    listed = _list(client, bearer(second["key"]))
    assert listed["sessions"] == [] and [k["keyId"] for k in listed["apiKeys"]] == [second["keyId"]]
    bad = client.post(
        "/v1/users/me/sessions/revoke-others",
        json={"includeApiKeys": True, "also": 1},
        headers=bearer(second["key"]),
    )
    assert_problem(bad, 422, "validation_error")


def test_last_uses_are_written_by_the_app_not_by_each_request(settings_factory: Any) -> None:
    settings = settings_factory()
    with (
        LiveServer(settings) as live,
        httpx.Client(base_url=live.url, timeout=60) as client,
    ):
        user = make_user(client)
        key = api_key(client, user)
        assert me(client, bearer(key["key"])).status_code == 200
        # Noted in memory: the rows are not written per request.
        rows = fetch(settings, select(AuthSession.last_used_at))
        assert rows == [(None,)]
        # A later use stored by another process is never moved back.
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        run_sql(settings, update(ApiKey).values(last_used_at=later, last_used_address="10.9.9.9"))
    # The app writes its notes when it stops (and every minute while it runs).
    [used] = fetch(settings, select(AuthSession.last_used_at, AuthSession.last_used_address))
    assert used.last_used_at is not None and used.last_used_address == "127.0.0.1"
    [key_used] = fetch(settings, select(ApiKey.last_used_at, ApiKey.last_used_address))
    assert key_used.last_used_at == later and key_used.last_used_address == "10.9.9.9"
