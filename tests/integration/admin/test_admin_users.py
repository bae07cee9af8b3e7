"""The admin service's users: search, usage and plan, and a quota of one's own."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from typer.testing import CliRunner

from imghost.cli.commands import cli
from tests.conftest import LiveServer
from tests.factories import assert_problem, image_bytes, make_user, upload, upload_ok
from tests.helpers.moderation import make_admin


def cli_env(live: LiveServer) -> dict[str, str]:
    s = live.settings
    return {
        "IMGHOST_DATABASE_URL": s.database_url,
        "IMGHOST_STORAGE_URL": s.storage_url,
        "IMGHOST_SECRET_KEY": s.secret_key,
        "IMGHOST_QUOTA_FREE": str(s.quota_free),
        "IMGHOST_QUOTA_PREMIUM": str(s.quota_premium),
    }


def test_only_site_admins(client: httpx.Client) -> None:
    user = make_user(client)
    for method, path in (
        ("GET", "/v1/admin/users?q=a"),
        ("GET", f"/v1/admin/users/{user.user_id}"),
        ("PATCH", f"/v1/admin/users/{user.user_id}"),
        ("GET", "/v1/admin/status"),
    ):
        body: dict[str, Any] = {"json": {"plan": "premium"}} if method == "PATCH" else {}
        assert_problem(client.request(method, path, **body), 401, "unauthorized")
        r = client.request(method, path, headers=user.headers, **body)
        assert_problem(r, 403, "forbidden")
    assert client.get("/v1/users/me/usage", headers=user.headers).json()["plan"] == "free"


def test_search_by_id_or_the_start_of_a_name_or_email(
    live: LiveServer, client: httpx.Client
) -> None:
    admin = make_admin(client, live.settings)
    tag = uuid.uuid4().hex[:6]
    ann = make_user(client, f"Ann{tag}")
    bob = make_user(client, f"bob{tag}")

    def search(q: str, **params: Any) -> list[str]:
        r = client.get("/v1/admin/users", params={"q": q, **params}, headers=admin.headers)
        assert r.status_code == 200, r.text
        return [u["username"] for u in r.json()["users"]]

    assert search(f"ann{tag}") == [ann.username]  # any case
    assert search(ann.email[:6].upper()) == [ann.username]
    assert search(bob.user_id) == [bob.username]
    assert search(f"ann{tag}%") == []  # LIKE wildcards are text here
    assert search("_") == []
    r = client.get("/v1/admin/users", params={"q": f"bob{tag}"}, headers=admin.headers)
    found = r.json()["users"][0]
    assert found["userId"] == bob.user_id and found["email"] == bob.email
    assert found["plan"] == "free" and found["isAdmin"] is False
    assert found["usage"]["quotaOverrideBytes"] is None
    assert found["createdAt"].endswith("Z")
    assert_problem(
        client.get("/v1/admin/users", params={"q": ""}, headers=admin.headers),
        422,
        "validation_error",
    )
    assert_problem(client.get("/v1/admin/users/u_nobody", headers=admin.headers), 404, "not_found")


def test_plan_and_own_quota(live: LiveServer, client: httpx.Client) -> None:
    admin = make_admin(client, live.settings)
    user = make_user(client)
    data = image_bytes(size=(96, 64))
    upload_ok(client, user, data=data, processed=False)
    path = f"/v1/admin/users/{user.user_id}"

    r = client.patch(path, json={"quotaOverrideBytes": len(data)}, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["usage"]["quotaOverrideBytes"] == len(data)
    assert r.json()["usage"]["quotaBytes"] == len(data)
    assert client.get("/v1/users/me/usage", headers=user.headers).json()["quotaBytes"] == len(data)
    assert_problem(upload(client, user, data=data), 413, "quota_exceeded")

    r = client.patch(
        path, json={"quotaOverrideBytes": None, "plan": "premium"}, headers=admin.headers
    )
    assert r.status_code == 200, r.text
    usage = r.json()["usage"]
    assert usage["quotaOverrideBytes"] is None
    assert usage["quotaBytes"] == live.settings.quota_premium
    assert r.json()["plan"] == "premium"
    assert upload(client, user, data=data).status_code == 201

    for bad, code in (
        ({"plan": "gold"}, "invalid_plan"),
        ({"quotaOverrideBytes": -1}, "validation_error"),
        ({"quota": 5}, "validation_error"),
    ):
        assert_problem(client.patch(path, json=bad, headers=admin.headers), 422, code)
    r = client.patch("/v1/admin/users/u_nobody", json={"plan": "free"}, headers=admin.headers)
    assert_problem(r, 404, "not_found")


def test_the_cli_does_the_same(live: LiveServer, client: httpx.Client) -> None:
    user = make_user(client)
    runner, env = CliRunner(), cli_env(live)
    result = runner.invoke(cli, ["admin", "quota", user.username, "5MB"], env=env)
    assert result.exit_code == 0, result.output
    assert "its own quota" in result.output
    usage = client.get("/v1/users/me/usage", headers=user.headers).json()
    assert usage["quotaBytes"] == 5_000_000
    result = runner.invoke(cli, ["admin", "quota", user.email, "plan"], env=env)
    assert result.exit_code == 0 and "free plan's quota" in result.output, result.output
    result = runner.invoke(cli, ["admin", "quota", user.username, "lots"], env=env)
    assert result.exit_code == 2 and "not a size" in result.output
    result = runner.invoke(cli, ["admin", "quota", "nobody-here", "1GB"], env=env)
    assert result.exit_code == 1 and "nobody-here" in result.output
    result = runner.invoke(cli, ["admin", "users", user.username[:8]], env=env)
    assert result.exit_code == 0 and user.user_id in result.output, result.output
