"""Each kind of audit event is recorded where it happens, with its actor,
target and details, in the transaction of the change (one table, checked
against the admin feed, on both backends)."""

from __future__ import annotations

from typing import Any

import httpx
import pyotp

from tests.conftest import LiveServer
from tests.factories import PASSWORD, UserHandle, make_user, upload_ok
from tests.helpers.orgs import create_org, join
from tests.integration.audit.helpers import admin_events, make_admin, run_cli

NEW_PASSWORD = "another staple battery horse"


def _ok(r: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json() if r.content else {}
    return body


def _act(
    client: httpx.Client, live: LiveServer, admin: UserHandle, ann: UserHandle, bob: UserHandle
) -> dict[str, str]:
    """Do one of everything the log records; the ids the table refers to."""
    h = ann.headers
    ids: dict[str, str] = {}
    wrong = {"email": ann.email, "password": "not the password at all"}
    assert client.post("/v1/auth/login", json=wrong).status_code == 401
    key = _ok(client.post("/v1/users/me/api-keys", json={"name": "ci"}, headers=h), 201)
    ids["key"] = key["keyId"]
    _ok(client.delete(f"/v1/users/me/api-keys/{key['keyId']}", headers=h), 204)
    image = upload_ok(client, ann, processed=False)
    ids["image"] = image["imageId"]
    _ok(client.patch(f"/v1/images/{ids['image']}", json={"visibility": "private"}, headers=h))
    link = _ok(client.post(f"/v1/images/{ids['image']}/links", json={}, headers=h), 201)
    ids["link"] = link["linkId"]
    _ok(client.delete(f"/v1/links/{link['linkId']}", headers=h), 204)
    path = f"/v1/images/{ids['image']}/collaborators"
    _ok(client.put(f"{path}/{bob.user_id}", json={"permission": "view"}, headers=h))
    _ok(client.delete(f"{path}/{bob.user_id}", headers=h), 204)
    shared = {"sharedWith": "nobody@example.com", "permission": "view"}
    _ok(client.post(path, json=shared, headers=h), 202)
    _ok(
        client.delete(f"/v1/images/{ids['image']}/pending-shares/nobody@example.com", headers=h),
        204,
    )
    signed = {"expiresIn": 600, "permissions": ["view"]}
    _ok(client.post(f"/v1/images/{ids['image']}/share", json=signed, headers=h))
    album = _ok(client.post("/v1/albums", json={"title": "trip"}, headers=h), 201)
    ids["album"] = album["albumId"]
    album_path = f"/v1/albums/{ids['album']}/collaborators"
    _ok(client.put(f"{album_path}/{bob.user_id}", json={"permission": "view"}, headers=h))
    _ok(client.delete(f"{album_path}/{bob.user_id}", headers=h), 204)
    _ok(client.post(album_path, json=shared, headers=h), 202)
    _ok(
        client.delete(f"/v1/albums/{ids['album']}/pending-shares/nobody@example.com", headers=h),
        204,
    )
    org = create_org(client, ann)
    ids["org"] = org["orgId"]
    join(client, ann, ids["org"], bob, "member")
    _ok(
        client.put(
            f"/v1/orgs/{ids['org']}/members/{bob.user_id}", json={"role": "admin"}, headers=h
        )
    )
    _ok(client.delete(f"/v1/orgs/{ids['org']}/members/{bob.user_id}", headers=h), 204)
    enrolment = _ok(
        client.post("/v1/users/me/mfa/totp", json={"password": PASSWORD}, headers=h), 201
    )
    code = pyotp.TOTP(enrolment["secret"]).now()
    _ok(client.post("/v1/users/me/mfa/totp/confirm", json={"code": code}, headers=h))
    result = run_cli(live.settings, "admin", "mfa-reset", ann.username)
    assert result.exit_code == 0, result.output
    result = run_cli(live.settings, "admin", "plan", ann.username, "premium")
    assert result.exit_code == 0, result.output
    for command in ("grant", "revoke"):
        result = run_cli(live.settings, "admin", command, bob.email)
        assert result.exit_code == 0, result.output
    assert run_cli(live.settings, "admin", "grant", "nobody-here").exit_code == 1
    sessions = _ok(client.get("/v1/users/me/sessions", headers=bob.headers))["sessions"]
    ids["session"] = sessions[0]["sessionId"]
    _ok(client.delete(f"/v1/users/me/sessions/{ids['session']}", headers=bob.headers), 204)
    doomed = upload_ok(client, ann, processed=False)
    ids["deleted"] = doomed["imageId"]
    _ok(client.delete(f"/v1/images/{ids['deleted']}", headers=admin.headers))
    change = {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    _ok(client.post("/v1/users/me/password", json=change, headers=h), 204)
    return ids


def test_every_event_kind_is_recorded(client: httpx.Client, live: LiveServer) -> None:
    admin = make_admin(client, live.settings)
    ann, bob = make_user(client), make_user(client)
    ids = _act(client, live, admin, ann, bob)
    a, b = ann.user_id, bob.user_id
    # kind, actor kind, actor, target, details that must be among the event's
    table: list[tuple[str, str, str | None, tuple[str, str] | None, dict[str, Any]]] = [
        ("auth.login", "user", a, ("user", a), {"method": "password"}),
        ("auth.login_failed", "anonymous", None, ("user", a), {"stage": "password", "attempt": 1}),
        ("apikey.created", "user", a, ("apikey", ids["key"]), {"name": "ci"}),
        ("apikey.revoked", "user", a, ("apikey", ids["key"]), {}),
        ("image.visibility_changed", "user", a, ("image", ids["image"]), {"to": "private"}),
        ("share_link.created", "user", a, ("image", ids["image"]), {"linkId": ids["link"]}),
        ("share_link.revoked", "user", a, ("image", ids["image"]), {"linkId": ids["link"]}),
        ("collaborator.added", "user", a, ("image", ids["image"]), {"userId": b}),
        ("collaborator.removed", "user", a, ("image", ids["image"]), {"userId": b}),
        ("collaborator.added", "user", a, ("image", ids["image"]), {"pending": True}),
        ("collaborator.removed", "user", a, ("image", ids["image"]), {"pending": True}),
        ("signed_url.issued", "user", a, ("image", ids["image"]), {"permissions": ["view"]}),
        ("collaborator.added", "user", a, ("album", ids["album"]), {"userId": b}),
        ("collaborator.removed", "user", a, ("album", ids["album"]), {"userId": b}),
        ("collaborator.added", "user", a, ("album", ids["album"]), {"pending": True}),
        ("collaborator.removed", "user", a, ("album", ids["album"]), {"pending": True}),
        ("org.role_changed", "user", b, ("org", ids["org"]), {"userId": b, "role": "member"}),
        ("org.role_changed", "user", a, ("org", ids["org"]), {"userId": b, "role": "admin"}),
        ("org.role_changed", "user", a, ("org", ids["org"]), {"userId": b, "role": None}),
        ("auth.mfa_changed", "user", a, ("user", a), {"change": "enabled"}),
        ("auth.mfa_changed", "cli", None, ("user", a), {"change": "reset_by_admin"}),
        ("admin.mfa_reset", "cli", None, ("user", a), {"hadFactor": True}),
        ("admin.plan", "cli", None, ("user", a), {"plan": "premium"}),
        ("admin.grant", "cli", None, ("user", b), {}),
        (
            "admin.image_deleted",
            "admin",
            admin.user_id,
            ("image", ids["deleted"]),
            {"ownerId": a, "permanent": False},
        ),
        ("admin.revoke", "cli", None, ("user", b), {}),
        ("session.revoked", "user", b, ("session", ids["session"]), {}),
        ("auth.password_changed", "user", a, ("user", a), {"how": "changed"}),
    ]
    events = admin_events(client, admin)
    for kind, actor_kind, actor, target, details in table:
        matching = [
            e
            for e in events
            if e["kind"] == kind
            and e["actorKind"] == actor_kind
            and e["actorId"] == actor
            and (e["target"] and (e["target"]["type"], e["target"]["id"])) == target
            and details.items() <= e["details"].items()
        ]
        assert matching, f"no {kind} {actor_kind} {actor} {target} {details} in {events}"
    # the request's client is recorded; the command line has none
    login = next(e for e in events if e["kind"] == "auth.login" and e["actorId"] == a)
    assert login["address"] == "127.0.0.1"
    assert login["userAgent"].startswith("python-httpx")
    reset = next(e for e in events if e["kind"] == "admin.mfa_reset")
    assert reset["address"] is None
    # ids are the chain's order: newest first, no gaps
    ids_seen = [e["eventId"] for e in events]
    assert ids_seen == list(range(ids_seen[0], ids_seen[0] - len(ids_seen), -1))
    result = run_cli(live.settings, "audit", "verify")
    assert result.exit_code == 0, result.output
    assert f"{len(events)} verified" in result.output


def test_a_refused_change_records_nothing(client: httpx.Client, live: LiveServer) -> None:
    admin = make_admin(client, live.settings)
    ann, bob = make_user(client), make_user(client)
    image = upload_ok(client, ann, processed=False)
    before = admin_events(client, admin)
    # bob may not change ann's image, revoke her keys or sign her URLs
    r = client.patch(
        f"/v1/images/{image['imageId']}", json={"visibility": "private"}, headers=bob.headers
    )
    assert r.status_code in (403, 404)
    assert client.delete("/v1/users/me/api-keys/key_nope", headers=bob.headers).status_code == 404
    signed = {"expiresIn": 600, "permissions": ["view"]}
    r = client.post(f"/v1/images/{image['imageId']}/share", json=signed, headers=bob.headers)
    assert r.status_code in (403, 404)
    too_long = {"expiresIn": 10**9, "permissions": ["view"]}
    r = client.post(f"/v1/images/{image['imageId']}/share", json=too_long, headers=ann.headers)
    assert r.status_code == 400
    # a PATCH that leaves the visibility as it is changes nothing the log records
    r = client.patch(
        f"/v1/images/{image['imageId']}", json={"title": "same visibility"}, headers=ann.headers
    )
    assert r.status_code == 200
    assert admin_events(client, admin) == before
