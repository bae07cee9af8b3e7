"""Changing a password: the current one is needed, every other session ends at once."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from imghost.notifications.models import Notification
from imghost.settings import Settings
from tests.conftest import LiveServer
from tests.factories import PASSWORD, assert_problem, make_user
from tests.helpers.db import fetch
from tests.integration.auth.helpers import api_key, bearer, login, me

NEW_PASSWORD = "quiet lantern orbit 41"


def test_change_ends_every_other_session_at_once(client: httpx.Client, live: LiveServer) -> None:
    user = make_user(client)
    other = login(client, user.email, PASSWORD)
    key = api_key(client, user)["key"]
    assert me(client, bearer(other["accessToken"])).status_code == 200

    r = client.post(
        "/v1/users/me/password",
        json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
        headers=user.headers,
    )
    assert r.status_code == 204, r.text

    # The other session's access token is refused now, not at its expiry.
    assert_problem(me(client, bearer(other["accessToken"])), 401, "invalid_token")
    refreshed = client.post("/v1/auth/refresh", json={"refreshToken": other["refreshToken"]})
    assert_problem(refreshed, 401, "invalid_refresh_token")
    # The caller's own session, and API keys (not sessions), go on.
    assert me(client, user.headers).status_code == 200
    assert me(client, bearer(key)).status_code == 200
    old = client.post("/v1/auth/login", json={"email": user.email, "password": PASSWORD})
    assert_problem(old, 401, "invalid_credentials")
    login(client, user.email, NEW_PASSWORD)
    # The user is told (in-app, and by e-mail when the server sends it).
    kinds = fetch(
        live.settings, select(Notification.kind).where(Notification.user_id == user.user_id)
    )
    assert [k for (k,) in kinds] == ["account.password_changed"]


def test_change_by_api_key_ends_every_session(client: httpx.Client) -> None:
    user = make_user(client)
    key = api_key(client, user)["key"]
    r = client.post(
        "/v1/users/me/password",
        json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
        headers=bearer(key),
    )
    assert r.status_code == 204, r.text
    assert_problem(me(client, user.headers), 401, "invalid_token")
    assert me(client, bearer(key)).status_code == 200


def test_wrong_current_or_weak_new_password_changes_nothing(client: httpx.Client) -> None:
    user = make_user(client)
    other = login(client, user.email, PASSWORD)
    wrong = client.post(
        "/v1/users/me/password",
        json={"currentPassword": "not the password 99", "newPassword": NEW_PASSWORD},
        headers=user.headers,
    )
    assert_problem(wrong, 403, "wrong_password")
    weak = client.post(
        "/v1/users/me/password",
        json={"currentPassword": PASSWORD, "newPassword": "password12"},
        headers=user.headers,
    )
    assert_problem(weak, 422, "weak_password")
    anonymous = client.post(
        "/v1/users/me/password", json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    )
    assert_problem(anonymous, 401, "unauthorized")
    # Nothing ended, nothing changed.
    assert me(client, bearer(other["accessToken"])).status_code == 200
    login(client, user.email, PASSWORD)


@pytest.fixture
def settings(settings_factory: Any) -> Settings:
    made: Settings = settings_factory(login_free_failures=1)
    return made


def test_wrong_current_passwords_are_throttled_like_logins(client: httpx.Client) -> None:
    user = make_user(client)
    attempt = {"currentPassword": "not the password 99", "newPassword": NEW_PASSWORD}
    first = client.post("/v1/users/me/password", json=attempt, headers=user.headers)
    assert_problem(first, 403, "wrong_password")
    second = client.post("/v1/users/me/password", json=attempt, headers=user.headers)
    assert_problem(second, 403, "wrong_password")
    # Past the free failures the pair waits, even with the right password.
    right = {**attempt, "currentPassword": PASSWORD}
    throttled = client.post("/v1/users/me/password", json=right, headers=user.headers)
    assert_problem(throttled, 429, "login_throttled")
    assert throttled.headers["Retry-After"]
