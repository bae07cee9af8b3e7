"""Looking a user up by exact username or e-mail; usernames that look like ids."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from imghost.settings import Settings
from tests.conftest import LiveServer
from tests.factories import PASSWORD, assert_problem, make_user


def test_lookup_is_exact_and_never_shows_an_address(client: httpx.Client) -> None:
    me, them = make_user(client), make_user(client)
    for q in (them.username, them.username.upper(), them.email, them.email.upper()):
        r = client.get("/v1/users/lookup", params={"q": q}, headers=me.headers)
        assert r.status_code == 200, r.text
        assert r.json() == {"userId": them.user_id, "username": them.username}
    # no prefix, no pattern, no id: one 404 for every miss
    for q in (them.username[:-1], "user%", them.email[:-3], "nobody@example.com", them.user_id):
        r = client.get("/v1/users/lookup", params={"q": q}, headers=me.headers)
        assert_problem(r, 404, "not_found")
    assert client.get("/v1/users/lookup", params={"q": them.username}).status_code == 401
    assert_problem(
        client.get("/v1/users/lookup", params={"q": ""}, headers=me.headers),
        422,
        "validation_error",
    )


def test_lookup_is_rate_limited_per_user(settings_factory: Callable[..., Settings]) -> None:
    live = LiveServer(settings_factory(user_lookup_rate_limit="2/minute"))
    with live, httpx.Client(base_url=live.url, timeout=30) as client:
        me, other, them = make_user(client), make_user(client), make_user(client)
        for _ in range(2):
            r = client.get("/v1/users/lookup", params={"q": "x"}, headers=me.headers)
            assert r.status_code == 404  # misses count too
        r = client.get("/v1/users/lookup", params={"q": them.username}, headers=me.headers)
        body = assert_problem(r, 429, "rate_limited")
        assert int(r.headers["Retry-After"]) >= 1 and "lookups" in body["detail"]
        # another user has a budget of their own
        r = client.get("/v1/users/lookup", params={"q": them.username}, headers=other.headers)
        assert r.status_code == 200


@pytest.mark.parametrize("name", ["u_alice", "IMG_cat", "alb_x", "org_team", "psh_1"])
def test_usernames_may_not_look_like_ids(client: httpx.Client, name: str) -> None:
    r = client.post(
        "/v1/auth/signup",
        json={"username": name, "email": f"{name.lower()}@example.com", "password": PASSWORD},
    )
    body = assert_problem(r, 422, "username_reserved")
    assert "u_" in body["detail"]


def test_names_near_an_id_prefix_are_fine(client: httpx.Client) -> None:
    for name in ("user_one", "image", "u-two", "imgx_3"):
        r = client.post(
            "/v1/auth/signup",
            json={"username": name, "email": f"{name}@example.com", "password": PASSWORD},
        )
        assert r.status_code == 201, r.text
