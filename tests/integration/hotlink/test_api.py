"""The allow-list routes: your own list, an org's (its owners and admins set
it, members read it), and what an entry may be."""

from __future__ import annotations

import httpx

from tests.factories import assert_problem, make_user
from tests.helpers.orgs import join, team


def test_your_list_and_an_orgs(client: httpx.Client) -> None:
    user = make_user(client)
    r = client.get("/v1/users/me/hotlink", headers=user.headers)
    assert r.status_code == 200
    assert r.json() == {
        "accountId": user.user_id,
        "enabled": False,
        "allowedReferrers": [],
        "updatedAt": None,
    }
    r = client.put(
        "/v1/users/me/hotlink",
        headers=user.headers,
        json={"allowedReferrers": ["WWW.Example.com.", "*.example.org", "www.example.com"]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["allowedReferrers"] == ["www.example.com", "*.example.org"]
    again = client.get("/v1/users/me/hotlink", headers=user.headers).json()
    assert again["enabled"] and again["updatedAt"].endswith("Z")
    assert again["allowedReferrers"] == ["www.example.com", "*.example.org"]
    assert client.get("/v1/users/me/hotlink").status_code == 401

    crew = team(client)
    viewer = make_user(client)
    join(client, crew.owner, crew.org, viewer, "viewer")
    path = f"/v1/orgs/{crew.org}/hotlink"
    body = {"allowedReferrers": ["example.com"]}
    assert client.put(path, headers=crew.owner.headers, json=body).status_code == 200
    seen = client.get(path, headers=crew.member.headers).json()
    assert seen["accountId"] == crew.org and seen["allowedReferrers"] == ["example.com"]
    assert_problem(client.put(path, headers=crew.member.headers, json=body), 403, "forbidden")
    assert_problem(client.get(path, headers=user.headers), 404, "not_found")


def test_what_an_entry_may_be(client: httpx.Client) -> None:
    user = make_user(client)

    def put(hosts: object) -> httpx.Response:
        return client.put(
            "/v1/users/me/hotlink", headers=user.headers, json={"allowedReferrers": hosts}
        )

    bad = assert_problem(put(["https://example.com/"]), 422, "invalid_referrer_host")
    assert "not a URL" in bad["detail"]
    assert_problem(put(["*.com"]), 422, "invalid_referrer_host")
    assert_problem(put([f"h{i}.example.com" for i in range(101)]), 422, "too_many_referrer_hosts")
    assert_problem(put("example.com"), 422, "validation_error")
    r = client.put(
        "/v1/users/me/hotlink", headers=user.headers, json={"allowedReferrers": [], "x": 1}
    )
    assert_problem(r, 422, "validation_error")
    assert client.get("/v1/users/me/hotlink", headers=user.headers).json()["enabled"] is False
