from __future__ import annotations

import time

import httpx
import jwt
import pytest

from tests.factories import PASSWORD, assert_problem, make_user


def test_signup_shape_and_conflicts(client: httpx.Client) -> None:
    r = client.post(
        "/v1/auth/signup",
        json={"username": "alice", "email": "Alice@Example.com", "password": PASSWORD},
    )
    assert r.status_code == 201
    body = r.json()
    assert set(body) == {"userId", "username", "email", "createdAt"}
    assert body["userId"].startswith("u_") and body["email"] == "alice@example.com"
    dup_email = {"username": "alice2", "email": "alice@example.com", "password": PASSWORD}
    assert_problem(client.post("/v1/auth/signup", json=dup_email), 409, "account_exists")
    dup_name = {"username": "ALICE", "email": "other@example.com", "password": PASSWORD}
    assert_problem(client.post("/v1/auth/signup", json=dup_name), 409, "account_exists")


def test_signup_rejects_weak_password_and_bad_input(client: httpx.Client) -> None:
    weak = {"username": "bob", "email": "bob@example.com", "password": "short"}
    assert_problem(client.post("/v1/auth/signup", json=weak), 422, "weak_password")
    bad_email = {"username": "bob", "email": "not-an-email", "password": PASSWORD}
    assert_problem(client.post("/v1/auth/signup", json=bad_email), 422, "invalid_email")
    missing = client.post("/v1/auth/signup", json={"username": "bob"})
    body = assert_problem(missing, 422, "validation_error")
    assert {e["field"] for e in body["errors"]} >= {"email", "password"}
    not_json = client.post(
        "/v1/auth/signup", content=b"{oops", headers={"content-type": "application/json"}
    )
    assert not_json.status_code in (400, 422)
    assert not_json.headers["content-type"].startswith("application/problem+json")


@pytest.mark.standard_password_hash
def test_login_success_and_uniform_failure(client: httpx.Client) -> None:
    user = make_user(client, "carol")
    r = client.post("/v1/auth/login", json={"email": user.email, "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["expiresIn"] == 3600 and body["tokenType"] == "Bearer"
    assert body["accessToken"] and body["refreshToken"].startswith("ihr_")

    def attempt(email: str, password: str) -> tuple[httpx.Response, float]:
        start = time.perf_counter()
        resp = client.post("/v1/auth/login", json={"email": email, "password": password})
        return resp, time.perf_counter() - start

    wrong, t_wrong = attempt(user.email, "wrong password!!")
    unknown, t_unknown = attempt("nobody@example.com", "wrong password!!")
    for resp in (wrong, unknown):
        assert_problem(resp, 401, "invalid_credentials")
    # Same answer, byte for byte (apart from nothing): no account enumeration.
    assert wrong.json() == unknown.json()
    # Both paths run a full argon2 verification: the times are the same order.
    assert t_unknown > t_wrong / 5 and t_wrong > t_unknown / 5


def test_me_and_patch(client: httpx.Client) -> None:
    user = make_user(client)
    assert_problem(client.get("/v1/users/me"), 401, "unauthorized")
    r = client.get("/v1/users/me", headers=user.headers)
    assert r.status_code == 200 and r.json()["userId"] == user.user_id
    assert r.json()["keepGps"] is False and r.json()["defaultVisibility"] == "public"
    r = client.patch(
        "/v1/users/me",
        headers=user.headers,
        json={"displayName": "Carol C", "defaultVisibility": "private", "keepGps": True},
    )
    assert r.status_code == 200, r.text
    assert r.json()["displayName"] == "Carol C" and r.json()["keepGps"] is True
    bad = client.patch("/v1/users/me", headers=user.headers, json={"defaultVisibility": "x"})
    assert_problem(bad, 422, "validation_error")
    unknown = client.patch("/v1/users/me", headers=user.headers, json={"isAdmin": True})
    assert_problem(unknown, 422, "validation_error")


def test_refresh_rotates_and_reuse_revokes_family(client: httpx.Client) -> None:
    user = make_user(client)
    r1 = client.post("/v1/auth/refresh", json={"refreshToken": user.refresh_token})
    assert r1.status_code == 200, r1.text
    second = r1.json()
    assert second["refreshToken"] != user.refresh_token
    new_headers = {"Authorization": f"Bearer {second['accessToken']}"}
    assert client.get("/v1/users/me", headers=new_headers).status_code == 200
    # The first token was rotated: presenting it again is theft. The family dies.
    reuse = client.post("/v1/auth/refresh", json={"refreshToken": user.refresh_token})
    assert_problem(reuse, 401, "refresh_token_reused")
    again = client.post("/v1/auth/refresh", json={"refreshToken": second["refreshToken"]})
    assert_problem(again, 401, "invalid_refresh_token")
    assert_problem(client.get("/v1/users/me", headers=new_headers), 401, "invalid_token")
    assert_problem(client.get("/v1/users/me", headers=user.headers), 401, "invalid_token")
    junk = client.post("/v1/auth/refresh", json={"refreshToken": "ihr_nonsense"})
    assert_problem(junk, 401, "invalid_refresh_token")


def test_logout_revokes_session(client: httpx.Client) -> None:
    user = make_user(client)
    r = client.post("/v1/auth/logout", json={"refreshToken": user.refresh_token})
    assert r.status_code == 204
    assert_problem(client.get("/v1/users/me", headers=user.headers), 401, "invalid_token")
    refresh = client.post("/v1/auth/refresh", json={"refreshToken": user.refresh_token})
    assert_problem(refresh, 401, "invalid_refresh_token")


def test_oauth2_password_grant(client: httpx.Client) -> None:
    user = make_user(client)
    r = client.post(
        "/v1/auth/token",
        data={"grant_type": "password", "username": user.email, "password": PASSWORD},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer" and body["access_token"]
    me = client.get("/v1/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    bad = client.post("/v1/auth/token", data={"username": user.email, "password": "nope nope"})
    assert_problem(bad, 401, "invalid_credentials")
    # a NUL cannot reach the database (PostgreSQL text refuses it): 422, not 500
    for field in ("username", "password"):
        form = {"username": user.email, "password": PASSWORD, field: "a\x00b"}
        assert_problem(client.post("/v1/auth/token", data=form), 422, "validation_error")


def test_jwt_algorithm_attacks_rejected(client: httpx.Client) -> None:
    user = make_user(client)
    claims = jwt.decode(user.access_token, options={"verify_signature": False})
    # pyjwt reads "" as no key for alg=none (its types do not allow None)
    none_token = jwt.encode(claims, key="", algorithm="none")
    hs512 = jwt.encode(claims, "k" * 64, algorithm="HS512")
    forged = jwt.encode(claims, "not-the-server-secret-but-long-enough-32b", algorithm="HS256")
    expired = dict(claims, exp=int(time.time()) - 10)
    for token in (none_token, hs512, forged, "garbage", jwt.encode(expired, "x" * 32)):
        r = client.get("/v1/users/me", headers={"Authorization": f"Bearer {token}"})
        assert_problem(r, 401, "invalid_token")


def test_api_keys_lifecycle(client: httpx.Client) -> None:
    user = make_user(client)
    r = client.post("/v1/users/me/api-keys", headers=user.headers, json={"name": "ci"})
    assert r.status_code == 201, r.text
    created = r.json()
    key = created["key"]
    assert key.startswith("ihk_") and created["prefix"] == key[:12]
    listed = client.get("/v1/users/me/api-keys", headers=user.headers).json()
    assert [k["keyId"] for k in listed] == [created["keyId"]]
    assert "key" not in listed[0]  # shown once only
    key_headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/v1/users/me", headers=key_headers).json()["userId"] == user.user_id
    r = client.delete(f"/v1/users/me/api-keys/{created['keyId']}", headers=user.headers)
    assert r.status_code == 204
    assert_problem(client.get("/v1/users/me", headers=key_headers), 401, "invalid_token")
    again = client.delete(f"/v1/users/me/api-keys/{created['keyId']}", headers=user.headers)
    assert_problem(again, 404, "not_found")
    other = make_user(client)
    r = client.post("/v1/users/me/api-keys", headers=user.headers, json={"name": "x"})
    theirs = client.delete(f"/v1/users/me/api-keys/{r.json()['keyId']}", headers=other.headers)
    assert_problem(theirs, 404, "not_found")
