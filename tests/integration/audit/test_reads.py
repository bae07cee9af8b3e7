"""GET /v1/admin/audit (filters, cursor, site admins only) and
GET /v1/users/me/security-log (the caller's own events, nobody else's addresses)."""

from __future__ import annotations

import base64
import datetime as dt
import json

import httpx

from imghost.audit import services as audit
from imghost.context import AppContext
from tests.conftest import LiveServer
from tests.factories import UserHandle, assert_problem, make_user, upload_ok
from tests.helpers.context import with_ctx
from tests.integration.audit.helpers import admin_events, make_admin


def _key(client: httpx.Client, user: UserHandle, name: str) -> str:
    r = client.post("/v1/users/me/api-keys", json={"name": name}, headers=user.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["keyId"])


def test_admin_filters_and_pages(client: httpx.Client, live: LiveServer) -> None:
    admin = make_admin(client, live.settings)
    ann, bob = make_user(client), make_user(client)
    start = dt.datetime.now(dt.UTC)
    keys = [_key(client, ann, f"k{i}") for i in range(5)]
    _key(client, bob, "bob's")
    assert (
        client.post("/v1/auth/login", json={"email": ann.email, "password": "x" * 12}).status_code
        == 401
    )
    every = admin_events(client, admin)
    # kind: the kind and those below it; a trailing * is a plain prefix
    assert {e["kind"] for e in admin_events(client, admin, kind="apikey")} == {"apikey.created"}
    assert {e["kind"] for e in admin_events(client, admin, kind="auth.login")} == {"auth.login"}
    assert {e["kind"] for e in admin_events(client, admin, kind="auth.login*")} == {
        "auth.login",
        "auth.login_failed",
    }
    assert admin_events(client, admin, kind="auth.login_") == []
    assert admin_events(client, admin, kind="auth.login%") == []  # no LIKE wildcards
    # actor and target
    by_ann = admin_events(client, admin, actor=ann.user_id)
    assert {e["actorId"] for e in by_ann} == {ann.user_id}
    assert len([e for e in by_ann if e["kind"] == "apikey.created"]) == 5
    on_key = admin_events(client, admin, target=f"apikey:{keys[2]}")
    assert [e["details"]["name"] for e in on_key] == ["k2"]
    assert admin_events(client, admin, target=keys[2]) == on_key
    assert admin_events(client, admin, target=f"image:{keys[2]}") == []
    on_ann = admin_events(client, admin, target=f"user:{ann.user_id}")
    assert {e["kind"] for e in on_ann} == {"auth.login", "auth.login_failed"}
    # since/until
    since = admin_events(client, admin, since=start.isoformat())
    assert sorted(e["kind"] for e in since) == ["apikey.created"] * 6 + ["auth.login_failed"]
    until = admin_events(client, admin, until=start.isoformat())
    assert [e["kind"] for e in until] == ["auth.login"] * 3  # the three sign-ins
    assert until + since == sorted(
        every, key=lambda e: e["eventId"] in {x["eventId"] for x in since}
    )
    naive = start.replace(tzinfo=None).isoformat()  # UTC when no offset is given
    assert admin_events(client, admin, since=naive) == since
    # cursor paging: newest first, each event once
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        body = client.get("/v1/admin/audit", params=params, headers=admin.headers).json()
        assert len(body["events"]) <= 3
        seen += [e["eventId"] for e in body["events"]]
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == [e["eventId"] for e in every]
    bad = client.get("/v1/admin/audit", params={"cursor": "nonsense!"}, headers=admin.headers)
    assert_problem(bad, 400, "invalid_cursor")
    huge = base64.urlsafe_b64encode(json.dumps([2**70]).encode()).decode()
    bad = client.get("/v1/admin/audit", params={"cursor": huge}, headers=admin.headers)
    assert_problem(bad, 400, "invalid_cursor")
    bad = client.get("/v1/admin/audit", params={"kind": "auth\x00"}, headers=admin.headers)
    assert bad.status_code in (400, 422)  # refused before any query, never a 500
    # moments past the calendar's ends once in UTC are its ends
    edge = {"since": "0001-01-01T00:00:00+14:00", "until": "9999-12-31T23:59:59-14:00"}
    r = client.get("/v1/admin/audit", params=edge, headers=admin.headers)
    assert r.status_code == 200 and len(r.json()["events"]) == len(every[:50])


def test_only_site_admins_read_the_log(client: httpx.Client, live: LiveServer) -> None:
    ann = make_user(client)
    assert_problem(client.get("/v1/admin/audit", headers=ann.headers), 403, "forbidden")
    assert_problem(client.get("/v1/admin/audit"), 401, "unauthorized")
    assert_problem(client.get("/v1/users/me/security-log"), 401, "unauthorized")
    # Refused before the query is looked at (the admin routes' SiteAdmin dependency).
    bad = client.get("/v1/admin/audit", params={"limit": 0}, headers=ann.headers)
    assert_problem(bad, 403, "forbidden")


def test_security_log_is_the_callers_own(client: httpx.Client, live: LiveServer) -> None:
    ann, bob, eve = make_user(client), make_user(client), make_user(client)
    _key(client, ann, "mine")
    image = upload_ok(client, ann, processed=False)
    path = f"/v1/images/{image['imageId']}/collaborators/{bob.user_id}"
    assert client.put(path, json={"permission": "view"}, headers=ann.headers).status_code == 200
    # a wrong password for ann from elsewhere: on her account, not by her
    other = httpx.Client(base_url=live.url, headers={"User-Agent": "attacker/1.0"})
    with other:
        r = other.post("/v1/auth/login", json={"email": ann.email, "password": "y" * 12})
        assert r.status_code == 401
    log = client.get("/v1/users/me/security-log", headers=ann.headers).json()
    kinds = [e["kind"] for e in log["events"]]
    assert kinds == [
        "auth.login_failed",
        "collaborator.added",
        "apikey.created",
        "auth.login",
    ]
    failed = log["events"][0]
    assert failed["actorKind"] == "anonymous"
    # someone else's doing: no address, no user agent, no actor id
    assert failed["address"] is None and failed["userAgent"] is None and failed["actorId"] is None
    own = log["events"][-1]
    assert own["address"] == "127.0.0.1" and own["userAgent"] and own["actorId"] == ann.user_id
    # bob's log has his own sign-in only, not ann's grant to him; eve's has hers
    bob_log = client.get("/v1/users/me/security-log", headers=bob.headers).json()["events"]
    assert [e["kind"] for e in bob_log] == ["auth.login"]
    eve_log = client.get("/v1/users/me/security-log", headers=eve.headers).json()["events"]
    assert {e["actorId"] for e in eve_log} == {eve.user_id}
    # paging
    first = client.get("/v1/users/me/security-log", params={"limit": 2}, headers=ann.headers).json()
    assert [e["kind"] for e in first["events"]] == kinds[:2]
    rest = client.get(
        "/v1/users/me/security-log",
        params={"limit": 2, "cursor": first["next"]},
        headers=ann.headers,
    ).json()
    assert [e["kind"] for e in rest["events"]] == kinds[2:]
    assert rest["next"] is None
    bad = client.get("/v1/users/me/security-log", params={"cursor": "e30"}, headers=ann.headers)
    assert_problem(bad, 400, "invalid_cursor")


def test_the_history_of_one_thing(client: httpx.Client, live: LiveServer) -> None:
    ann = make_user(client)
    image = upload_ok(client, ann, processed=False)
    iid = image["imageId"]
    for visibility in ("private", "public", "unlisted"):
        r = client.patch(f"/v1/images/{iid}", json={"visibility": visibility}, headers=ann.headers)
        assert r.status_code == 200

    async def read(ctx: AppContext, limit: int) -> list[tuple[str, str]]:
        async with ctx.sessions() as session:
            rows = await audit.history(session, ("image", iid), limit)
            return [(row.kind, row.details["to"]) for row in rows]

    assert with_ctx(live.settings, lambda ctx: read(ctx, 10)) == [
        ("image.visibility_changed", "private"),
        ("image.visibility_changed", "public"),
        ("image.visibility_changed", "unlisted"),
    ]
    newest = with_ctx(live.settings, lambda ctx: read(ctx, 2))
    assert [to for _, to in newest] == ["public", "unlisted"]
