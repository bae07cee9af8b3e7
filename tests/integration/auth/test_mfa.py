"""Two-factor sign-in with an authenticator app (TOTP): enrolment, the
challenge of a password sign-in, recovery codes, turning it off, and what it
leaves alone (API keys, refresh tokens)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import httpx
import pyotp
from sqlalchemy import select
from typer.testing import CliRunner

from imghost.cli.commands import cli
from imghost.notifications.models import Notification
from tests.conftest import LiveServer
from tests.factories import PASSWORD, UserHandle, assert_problem, make_user
from tests.helpers.db import fetch
from tests.helpers.mfa import enrol
from tests.integration.auth.helpers import api_key, bearer, me


def password_login(client: httpx.Client, user: UserHandle, **extra: str) -> httpx.Response:
    return client.post("/v1/auth/login", json={"email": user.email, "password": PASSWORD, **extra})


def challenge(client: httpx.Client, user: UserHandle) -> str:
    r = password_login(client, user)
    assert_problem(r, 401, "mfa_required")
    body: dict[str, Any] = r.json()
    assert body["expiresIn"] == 300
    token: str = body["mfaToken"]
    return token


def answer(client: httpx.Client, token: str, code: str) -> httpx.Response:
    return client.post("/v1/auth/mfa", json={"mfaToken": token, "code": code})


def changes(live: LiveServer, user: UserHandle) -> list[str]:
    rows = fetch(
        live.settings,
        select(Notification.data)
        .where(Notification.user_id == user.user_id, Notification.kind == "account.mfa_changed")
        .order_by(Notification.created_at),
    )
    return [data["change"] for (data,) in rows]


def test_enrol_then_sign_in_with_a_code(client: httpx.Client, live: LiveServer) -> None:
    user = make_user(client)
    r = client.post("/v1/users/me/mfa/totp", json={"password": "wrong"}, headers=user.headers)
    assert_problem(r, 403, "wrong_password")
    r = client.post("/v1/users/me/mfa/totp", json={"password": PASSWORD}, headers=user.headers)
    assert r.status_code == 201, r.text
    body = r.json()
    uri = urlparse(body["otpauthUri"])
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert unquote(uri.path) == f"/imghost:{user.email}"
    assert parse_qs(uri.query)["secret"] == [body["secret"]]
    assert parse_qs(uri.query)["issuer"] == ["imghost"]
    assert body["qrCode"].startswith("data:image/svg+xml")
    totp = pyotp.TOTP(body["secret"])
    # Not on until confirmed: the password alone still signs in.
    assert password_login(client, user).status_code == 200
    status = client.get("/v1/users/me/mfa", headers=user.headers).json()
    assert status == {"totpEnabled": False, "enabledAt": None, "recoveryCodesLeft": 0}

    wrong = "000000" if totp.now() != "000000" else "111111"
    r = client.post("/v1/users/me/mfa/totp/confirm", json={"code": wrong}, headers=user.headers)
    assert_problem(r, 401, "invalid_mfa_code")
    confirmed = totp.now()
    r = client.post("/v1/users/me/mfa/totp/confirm", json={"code": confirmed}, headers=user.headers)
    assert r.status_code == 200, r.text
    codes = r.json()["recoveryCodes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    status = client.get("/v1/users/me/mfa", headers=user.headers).json()
    assert status["totpEnabled"] and status["recoveryCodesLeft"] == 10
    assert status["enabledAt"].endswith("Z")

    token = challenge(client, user)
    # The code that confirmed the app was used: it does not sign in again.
    assert_problem(answer(client, token, confirmed), 401, "invalid_mfa_code")
    r = answer(client, token, totp.at(time.time() + 30))
    assert r.status_code == 200, r.text
    assert me(client, bearer(r.json()["accessToken"])).status_code == 200
    # A challenge signs in once.
    assert_problem(answer(client, token, codes[0]), 401, "invalid_mfa_token")
    assert changes(live, user) == ["enabled"]


def test_recovery_code_signs_in_once(client: httpx.Client, live: LiveServer) -> None:
    enrolled = enrol(client, make_user(client))
    user, code = enrolled.user, enrolled.recovery[3]
    # In one request (scripts), typed in capitals and with spaces for dashes.
    r = password_login(client, user, mfaCode=code.upper().replace("-", " "))
    assert r.status_code == 200, r.text
    assert_problem(password_login(client, user, mfaCode=code), 401, "invalid_mfa_code")
    left = client.get("/v1/users/me/mfa", headers=user.headers).json()["recoveryCodesLeft"]
    assert left == 9
    assert changes(live, user) == ["enabled", "recovery_code_used"]


def test_password_alone_and_oauth_form_are_refused(client: httpx.Client) -> None:
    enrolled = enrol(client, make_user(client))
    user = enrolled.user
    r = client.post("/v1/auth/token", data={"username": user.email, "password": PASSWORD})
    assert_problem(r, 401, "mfa_required")
    assert r.json()["mfaToken"].startswith("ihm_")
    # A wrong password is still just that: nothing says the account has a second factor.
    r = client.post("/v1/auth/login", json={"email": user.email, "password": "wrong!"})
    assert_problem(r, 401, "invalid_credentials")
    assert "mfaToken" not in r.json()
    assert_problem(answer(client, "ihm_forged", "123456"), 401, "invalid_mfa_token")


def test_a_challenge_allows_five_codes_and_guessing_is_throttled(client: httpx.Client) -> None:
    enrolled = enrol(client, make_user(client))
    user = enrolled.user
    token = challenge(client, user)
    right = enrolled.code(1)
    wrong = [f"{n:06d}" for n in range(1000) if f"{n:06d}" not in {right, enrolled.code()}]
    for guess in wrong[:5]:
        assert_problem(answer(client, token, guess), 401, "invalid_mfa_code")
    # Out of attempts: even the right code needs the password again.
    assert_problem(answer(client, token, right), 401, "invalid_mfa_token")
    # Signing in again with the right password does not clear the count of
    # wrong codes: the next wrong one locks the account's second factor.
    token = challenge(client, user)
    assert_problem(answer(client, token, wrong[5]), 401, "invalid_mfa_code")
    r = answer(client, token, right)
    assert_problem(r, 429, "login_throttled")
    assert int(r.headers["Retry-After"]) >= 1


def test_api_keys_and_existing_sessions_are_unaffected(client: httpx.Client) -> None:
    user = make_user(client)
    key = api_key(client, user)["key"]
    enrol(client, user)
    assert me(client, bearer(key)).status_code == 200
    assert me(client, user.headers).status_code == 200
    r = client.post("/v1/auth/refresh", json={"refreshToken": user.refresh_token})
    assert r.status_code == 200, r.text


def test_turn_off_and_renew_codes(client: httpx.Client, live: LiveServer) -> None:
    enrolled = enrol(client, make_user(client))
    user = enrolled.user
    r = client.post(
        "/v1/users/me/mfa/recovery-codes", json={"password": "wrong"}, headers=user.headers
    )
    assert_problem(r, 403, "wrong_password")
    r = client.post(
        "/v1/users/me/mfa/recovery-codes", json={"password": PASSWORD}, headers=user.headers
    )
    assert r.status_code == 200, r.text
    renewed = r.json()["recoveryCodes"]
    assert not set(renewed) & set(enrolled.recovery)
    assert_problem(
        password_login(client, user, mfaCode=enrolled.recovery[0]), 401, "invalid_mfa_code"
    )

    off = "/v1/users/me/mfa/disable"
    r = client.post(off, json={"password": "wrong", "code": renewed[0]}, headers=user.headers)
    assert_problem(r, 403, "wrong_password")
    r = client.post(off, json={"password": PASSWORD, "code": "zzzz"}, headers=user.headers)
    assert_problem(r, 401, "invalid_mfa_code")
    r = client.post(
        off, json={"password": PASSWORD, "code": enrolled.code(1)}, headers=user.headers
    )
    assert r.status_code == 204, r.text
    assert password_login(client, user).status_code == 200
    r = client.post(off, json={"password": PASSWORD, "code": renewed[1]}, headers=user.headers)
    assert_problem(r, 409, "mfa_not_enabled")
    assert changes(live, user) == ["enabled", "recovery_codes_renewed", "disabled"]


def test_enrolment_states(client: httpx.Client) -> None:
    user = make_user(client)
    confirm = "/v1/users/me/mfa/totp/confirm"
    assert_problem(
        client.post(confirm, json={"code": "123456"}, headers=user.headers), 409, "mfa_not_pending"
    )
    r = client.post(
        "/v1/users/me/mfa/recovery-codes", json={"password": PASSWORD}, headers=user.headers
    )
    assert_problem(r, 409, "mfa_not_enabled")
    # Starting again replaces a secret that was never confirmed.
    first = client.post(
        "/v1/users/me/mfa/totp", json={"password": PASSWORD}, headers=user.headers
    ).json()["secret"]
    enrolled = enrol(client, user)
    assert enrolled.totp.secret != first
    r = client.post("/v1/users/me/mfa/totp", json={"password": PASSWORD}, headers=user.headers)
    assert_problem(r, 409, "mfa_already_enabled")
    assert_problem(client.get("/v1/users/me/mfa"), 401, "unauthorized")


def test_admin_reset_for_a_locked_out_user(client: httpx.Client, live: LiveServer) -> None:
    enrolled = enrol(client, make_user(client))
    user = enrolled.user
    s = live.settings
    env = {
        "IMGHOST_DATABASE_URL": s.database_url,
        "IMGHOST_STORAGE_URL": s.storage_url,
        "IMGHOST_SECRET_KEY": s.secret_key,
    }
    runner = CliRunner()
    result = runner.invoke(cli, ["admin", "mfa-reset", user.username], env=env)
    assert result.exit_code == 0, result.output
    assert "is off" in result.output
    assert password_login(client, user).status_code == 200
    assert changes(live, user) == ["enabled", "reset_by_admin"]
    result = runner.invoke(cli, ["admin", "mfa-reset", user.email], env=env)
    assert result.exit_code == 0 and "nothing changed" in result.output
    result = runner.invoke(cli, ["admin", "mfa-reset", "nobody-here"], env=env)
    assert result.exit_code == 1 and "nobody-here" in result.output
