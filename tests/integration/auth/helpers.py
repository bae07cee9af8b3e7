"""Shared by the account-lifecycle tests: logins, e-mailed tokens, user reads."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import UserHandle


def login(client: httpx.Client, email: str, password: str) -> dict[str, Any]:
    """A fresh login (a new session): its tokens."""
    r = client.post("/v1/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def me(client: httpx.Client, headers: dict[str, str]) -> httpx.Response:
    return client.get("/v1/users/me", headers=headers)


def api_key(client: httpx.Client, user: UserHandle) -> dict[str, Any]:
    r = client.post("/v1/users/me/api-keys", json={"name": "ci"}, headers=user.headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body
