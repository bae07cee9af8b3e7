"""Organizations, members by role, and invitations, over HTTP on both backends."""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import httpx
from sqlalchemy import update

from imghost.accounts.models import User
from imghost.images.models import Image
from imghost.orgs.models import OrgInvitation
from tests.conftest import LiveServer
from tests.factories import UserHandle, assert_problem, make_user, upload, upload_ok
from tests.helpers.accounts import mark_verified
from tests.helpers.db import run_sql
from tests.helpers.orgs import create_org, invite, join


def put_role(
    client: httpx.Client, by: UserHandle, org_id: str, user: UserHandle, role: str
) -> httpx.Response:
    return client.put(
        f"/v1/orgs/{org_id}/members/{user.user_id}", json={"role": role}, headers=by.headers
    )


def remove(client: httpx.Client, by: UserHandle, org_id: str, user: UserHandle) -> httpx.Response:
    return client.delete(f"/v1/orgs/{org_id}/members/{user.user_id}", headers=by.headers)


def roles(client: httpx.Client, by: UserHandle, org_id: str) -> dict[str, str]:
    r = client.get(f"/v1/orgs/{org_id}/members", headers=by.headers)
    assert r.status_code == 200, r.text
    return {m["userId"]: m["role"] for m in r.json()["members"]}


def test_create_list_get(client: httpx.Client) -> None:
    alice = make_user(client, "alice")
    org = create_org(client, alice, "  Acme Corp ")
    assert set(org) == {"orgId", "name", "createdAt", "role"}
    assert org["orgId"].startswith("org_") and org["name"] == "Acme Corp"
    assert org["role"] == "owner"
    other = create_org(client, alice, "Second")

    r = client.get("/v1/orgs", headers=alice.headers)
    assert r.status_code == 200
    assert [o["orgId"] for o in r.json()["orgs"]] == [org["orgId"], other["orgId"]]
    r = client.get(f"/v1/orgs/{org['orgId']}", headers=alice.headers)
    assert r.status_code == 200 and r.json() == org
    members = client.get(f"/v1/orgs/{org['orgId']}/members", headers=alice.headers).json()
    assert members == {
        "members": [
            {
                "userId": alice.user_id,
                "username": "alice",
                "role": "owner",
                "joinedAt": members["members"][0]["joinedAt"],
            }
        ]
    }

    bob = make_user(client, "bob")
    assert client.get("/v1/orgs", headers=bob.headers).json() == {"orgs": []}
    for body in ({"name": "   "}, {"name": ""}, {"name": "x" * 101}, {}, {"name": "A", "x": 1}):
        assert_problem(
            client.post("/v1/orgs", json=body, headers=alice.headers), 422, "validation_error"
        )


def test_unauthenticated_calls_get_401(client: httpx.Client) -> None:
    alice = make_user(client)
    org_id = create_org(client, alice)["orgId"]
    calls = [
        ("POST", "/v1/orgs", {"name": "x"}),
        ("GET", "/v1/orgs", None),
        ("GET", f"/v1/orgs/{org_id}", None),
        ("PATCH", f"/v1/orgs/{org_id}", {"name": "x"}),
        ("DELETE", f"/v1/orgs/{org_id}", None),
        ("GET", f"/v1/orgs/{org_id}/members", None),
        ("PUT", f"/v1/orgs/{org_id}/members/{alice.user_id}", {"role": "admin"}),
        ("DELETE", f"/v1/orgs/{org_id}/members/{alice.user_id}", None),
        ("POST", f"/v1/orgs/{org_id}/invitations", {"role": "member", "email": "a@b.cd"}),
        ("GET", f"/v1/orgs/{org_id}/invitations", None),
        ("GET", "/v1/users/me/invitations", None),
        ("POST", "/v1/invitations/inv_x/accept", None),
        ("POST", "/v1/invitations/inv_x/decline", None),
    ]
    for method, url, body in calls:
        assert_problem(client.request(method, url, json=body), 401, "unauthorized")
    assert_problem(
        client.get("/v1/orgs", headers={"Authorization": "Bearer nope"}), 401, "invalid_token"
    )
    assert client.get(f"/v1/orgs/{org_id}", headers=alice.headers).status_code == 200


def test_members_see_the_org_and_others_get_the_missing_answer(
    client: httpx.Client, live: LiveServer
) -> None:
    owner, viewer, stranger, site_admin = (make_user(client) for _ in range(4))
    org_id = create_org(client, owner)["orgId"]
    join(client, owner, org_id, viewer, "viewer")

    r = client.get(f"/v1/orgs/{org_id}", headers=viewer.headers)
    assert r.status_code == 200 and r.json()["role"] == "viewer"
    assert roles(client, viewer, org_id) == {owner.user_id: "owner", viewer.user_id: "viewer"}
    assert [o["role"] for o in client.get("/v1/orgs", headers=viewer.headers).json()["orgs"]] == [
        "viewer"
    ]

    hidden = assert_problem(
        client.get(f"/v1/orgs/{org_id}", headers=stranger.headers), 404, "not_found"
    )
    missing = assert_problem(
        client.get("/v1/orgs/org_doesnotexist", headers=stranger.headers), 404, "not_found"
    )
    assert hidden["detail"] == missing["detail"]
    for url in (f"/v1/orgs/{org_id}/members", f"/v1/orgs/{org_id}/invitations"):
        assert_problem(client.get(url, headers=stranger.headers), 404, "not_found")
    assert_problem(
        client.patch(f"/v1/orgs/{org_id}", json={"name": "x"}, headers=stranger.headers),
        404,
        "not_found",
    )
    assert_problem(client.delete(f"/v1/orgs/{org_id}", headers=stranger.headers), 404, "not_found")

    # Site administrators moderate: they see any org (without being a member).
    run_sql(live.settings, update(User).where(User.id == site_admin.user_id).values(is_admin=True))
    r = client.get(f"/v1/orgs/{org_id}", headers=site_admin.headers)
    assert r.status_code == 200 and r.json()["role"] is None
    assert client.get("/v1/orgs", headers=site_admin.headers).json() == {"orgs": []}


def test_rename_and_delete_permissions(client: httpx.Client, live: LiveServer) -> None:
    owner, admin, member, viewer = (make_user(client) for _ in range(4))
    org_id = create_org(client, owner)["orgId"]
    for user, role in ((admin, "admin"), (member, "member"), (viewer, "viewer")):
        join(client, owner, org_id, user, role)

    r = client.patch(f"/v1/orgs/{org_id}", json={"name": "Renamed"}, headers=admin.headers)
    assert r.status_code == 200 and r.json()["name"] == "Renamed" and r.json()["role"] == "admin"
    for user in (member, viewer):
        assert_problem(
            client.patch(f"/v1/orgs/{org_id}", json={"name": "No"}, headers=user.headers),
            403,
            "forbidden",
        )
    assert client.get(f"/v1/orgs/{org_id}", headers=viewer.headers).json()["name"] == "Renamed"
    assert_problem(
        client.patch(f"/v1/orgs/{org_id}", json={"name": ""}, headers=owner.headers),
        422,
        "validation_error",
    )

    for user in (admin, member, viewer):
        assert_problem(client.delete(f"/v1/orgs/{org_id}", headers=user.headers), 403, "forbidden")

    # The org's images go with it (ON DELETE CASCADE).
    image = upload_ok(client, owner, processed=False)
    run_sql(live.settings, update(Image).where(Image.id == image["imageId"]).values(org_id=org_id))
    r = client.delete(f"/v1/orgs/{org_id}", headers=owner.headers)
    assert r.status_code == 204 and r.content == b""
    for user in (owner, admin):
        assert_problem(client.get(f"/v1/orgs/{org_id}", headers=user.headers), 404, "not_found")
    assert client.get("/v1/orgs", headers=admin.headers).json() == {"orgs": []}
    assert_problem(
        client.get(f"/v1/images/{image['imageId']}", headers=owner.headers), 404, "not_found"
    )
    assert_problem(client.delete(f"/v1/orgs/{org_id}", headers=owner.headers), 404, "not_found")


def test_who_may_change_roles(client: httpx.Client) -> None:
    owner, admin, member, viewer, target = (make_user(client) for _ in range(5))
    org_id = create_org(client, owner)["orgId"]
    for user, role in (
        (admin, "admin"),
        (member, "member"),
        (viewer, "viewer"),
        (target, "member"),
    ):
        join(client, owner, org_id, user, role)

    # Members and viewers manage nobody, not even themselves.
    for actor in (member, viewer):
        assert_problem(put_role(client, actor, org_id, target, "viewer"), 403, "forbidden")
        assert_problem(put_role(client, actor, org_id, actor, "admin"), 403, "forbidden")

    # Admins manage members, viewers and admins, but never owners or ownership.
    r = put_role(client, admin, org_id, target, "viewer")
    assert r.status_code == 200, r.text
    assert r.json()["userId"] == target.user_id and r.json()["role"] == "viewer"
    assert set(r.json()) == {"userId", "username", "role", "joinedAt"}
    assert put_role(client, admin, org_id, target, "admin").json()["role"] == "admin"
    assert put_role(client, admin, org_id, target, "admin").status_code == 200  # no change
    assert put_role(client, admin, org_id, target, "member").json()["role"] == "member"
    assert_problem(put_role(client, admin, org_id, target, "owner"), 403, "forbidden")
    assert_problem(put_role(client, admin, org_id, admin, "owner"), 403, "forbidden")
    assert_problem(put_role(client, admin, org_id, owner, "member"), 403, "forbidden")

    # Owners do anything.
    assert put_role(client, owner, org_id, target, "owner").json()["role"] == "owner"
    assert_problem(put_role(client, admin, org_id, target, "member"), 403, "forbidden")
    assert put_role(client, target, org_id, admin, "viewer").json()["role"] == "viewer"
    assert roles(client, owner, org_id) == {
        owner.user_id: "owner",
        admin.user_id: "viewer",
        member.user_id: "member",
        viewer.user_id: "viewer",
        target.user_id: "owner",
    }

    stranger = make_user(client)
    body = assert_problem(put_role(client, owner, org_id, stranger, "member"), 404, "not_a_member")
    assert "invit" in body["detail"]
    assert_problem(put_role(client, stranger, org_id, owner, "member"), 404, "not_found")
    assert_problem(put_role(client, owner, org_id, target, "superuser"), 422, "validation_error")
    r = client.put(f"/v1/orgs/{org_id}/members/{target.user_id}", json={}, headers=owner.headers)
    assert_problem(r, 422, "validation_error")


def test_an_org_keeps_an_owner(client: httpx.Client) -> None:
    owner, second = make_user(client), make_user(client)
    org_id = create_org(client, owner)["orgId"]
    assert_problem(put_role(client, owner, org_id, owner, "admin"), 409, "last_owner")
    assert_problem(remove(client, owner, org_id, owner), 409, "last_owner")
    assert roles(client, owner, org_id) == {owner.user_id: "owner"}

    join(client, owner, org_id, second, "owner")
    assert put_role(client, owner, org_id, owner, "admin").json()["role"] == "admin"
    assert_problem(put_role(client, second, org_id, second, "member"), 409, "last_owner")
    assert_problem(remove(client, second, org_id, second), 409, "last_owner")
    assert put_role(client, second, org_id, owner, "owner").status_code == 200
    r = remove(client, second, org_id, second)  # leaving, with another owner left
    assert r.status_code == 204 and r.content == b""
    assert roles(client, owner, org_id) == {owner.user_id: "owner"}
    assert_problem(client.get(f"/v1/orgs/{org_id}", headers=second.headers), 404, "not_found")


def test_removing_and_leaving(client: httpx.Client) -> None:
    owner, admin, admin2, member, viewer, other = (make_user(client) for _ in range(6))
    org_id = create_org(client, owner)["orgId"]
    for user, role in (
        (admin, "admin"),
        (admin2, "admin"),
        (member, "member"),
        (viewer, "viewer"),
        (other, "member"),
    ):
        join(client, owner, org_id, user, role)

    assert_problem(remove(client, member, org_id, other), 403, "forbidden")
    assert_problem(remove(client, viewer, org_id, other), 403, "forbidden")
    assert_problem(remove(client, admin, org_id, owner), 403, "forbidden")
    assert remove(client, admin, org_id, other).status_code == 204
    assert remove(client, admin, org_id, admin2).status_code == 204
    assert_problem(remove(client, admin, org_id, other), 404, "not_a_member")
    # Anyone may leave.
    assert remove(client, viewer, org_id, viewer).status_code == 204
    assert remove(client, member, org_id, member).status_code == 204
    assert_problem(remove(client, member, org_id, member), 404, "not_found")
    assert remove(client, owner, org_id, admin).status_code == 204
    assert roles(client, owner, org_id) == {owner.user_id: "owner"}


def test_invite_by_user_id_and_accept(client: httpx.Client) -> None:
    owner, bob, eve = make_user(client), make_user(client), make_user(client)
    org = create_org(client, owner, "Acme")
    org_id = org["orgId"]
    before = dt.datetime.now(dt.UTC)
    r = invite(client, owner, org_id, "member", userId=bob.user_id)
    assert r.status_code == 201, r.text
    inv = r.json()
    assert inv["invitationId"].startswith("inv_")
    assert inv["orgId"] == org_id and inv["orgName"] == "Acme" and inv["role"] == "member"
    assert inv["userId"] == bob.user_id and inv["email"] is None
    assert inv["invitedBy"] == owner.user_id
    expires = dt.datetime.fromisoformat(inv["expiresAt"])
    assert dt.timedelta(days=14) - dt.timedelta(minutes=1) < expires - before
    assert expires - before < dt.timedelta(days=14, minutes=1)

    mine = client.get("/v1/users/me/invitations", headers=bob.headers).json()["invitations"]
    assert mine == [inv]
    assert client.get("/v1/users/me/invitations", headers=eve.headers).json() == {"invitations": []}
    r = client.get(f"/v1/orgs/{org_id}/invitations", headers=owner.headers)
    assert r.json() == {"invitations": [inv]}
    assert_problem(
        invite(client, owner, org_id, "viewer", userId=bob.user_id), 409, "already_invited"
    )

    # Addressed to bob: anyone else gets the same answer as for a missing invitation.
    wrong = assert_problem(
        client.post(f"/v1/invitations/{inv['invitationId']}/accept", headers=eve.headers),
        404,
        "not_found",
    )
    assert_problem(
        client.post(f"/v1/invitations/{inv['invitationId']}/decline", headers=eve.headers),
        404,
        "not_found",
    )
    missing = assert_problem(
        client.post("/v1/invitations/inv_nothing/accept", headers=eve.headers), 404, "not_found"
    )
    assert wrong["detail"] == missing["detail"]

    r = client.post(f"/v1/invitations/{inv['invitationId']}/accept", headers=bob.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {**org, "role": "member"}
    assert roles(client, owner, org_id)[bob.user_id] == "member"
    assert client.get("/v1/users/me/invitations", headers=bob.headers).json() == {"invitations": []}
    assert client.get(f"/v1/orgs/{org_id}/invitations", headers=owner.headers).json() == {
        "invitations": []
    }
    assert_problem(
        client.post(f"/v1/invitations/{inv['invitationId']}/accept", headers=bob.headers),
        404,
        "not_found",
    )
    assert_problem(
        invite(client, owner, org_id, "admin", userId=bob.user_id), 409, "already_member"
    )
    assert_problem(invite(client, owner, org_id, "admin", email=bob.email), 409, "already_member")


def test_invite_by_email_before_and_after_signup(client: httpx.Client, live: LiveServer) -> None:
    owner = make_user(client)
    org_id = create_org(client, owner)["orgId"]
    # The address has no account yet: the answer is the same as if it had one.
    r = invite(client, owner, org_id, "viewer", email="  Carol@Example.COM ")
    assert r.status_code == 201, r.text
    inv = r.json()
    assert inv["email"] == "carol@example.com" and inv["userId"] is None

    # Signing up with the address (unverified) does not reveal the invitation...
    carol = make_user(client, "carol")  # signs up as carol@example.com
    assert client.get("/v1/users/me/invitations", headers=carol.headers).json() == {
        "invitations": []
    }
    # ...and its id alone is not enough: the caller's address must match too.
    mallory = make_user(client, "mallory")
    for action in ("accept", "decline"):
        wrong = assert_problem(
            client.post(f"/v1/invitations/{inv['invitationId']}/{action}", headers=mallory.headers),
            404,
            "not_found",
        )
    missing = assert_problem(
        client.post("/v1/invitations/inv_nothing/accept", headers=mallory.headers), 404, "not_found"
    )
    assert wrong["detail"] == missing["detail"]
    assert_problem(client.get(f"/v1/orgs/{org_id}", headers=mallory.headers), 404, "not_found")
    # The id (passed on by the inviter) and the address together accept it, once
    # the address is verified: whoever signed up with it first may not own it.
    for action in ("accept", "decline"):
        assert_problem(
            client.post(f"/v1/invitations/{inv['invitationId']}/{action}", headers=carol.headers),
            403,
            "email_unverified",
        )
    mark_verified(live.settings, carol.user_id)
    r = client.post(f"/v1/invitations/{inv['invitationId']}/accept", headers=carol.headers)
    assert r.status_code == 200 and r.json()["role"] == "viewer"
    assert client.get(f"/v1/orgs/{org_id}", headers=carol.headers).json()["role"] == "viewer"

    # Declining an email invitation also takes its id.
    erin = make_user(client, "erin")
    mark_verified(live.settings, erin.user_id)
    to_erin = invite(client, owner, org_id, "member", email=erin.email).json()
    r = client.post(f"/v1/invitations/{to_erin['invitationId']}/decline", headers=erin.headers)
    assert r.status_code == 204
    assert client.get(f"/v1/orgs/{org_id}/invitations", headers=owner.headers).json() == {
        "invitations": []
    }

    # Invited twice (by id and by email): only the one to the user id is listed;
    # accepting either uses both up.
    dave = make_user(client, "dave")
    mark_verified(live.settings, dave.user_id)
    by_id = invite(client, owner, org_id, "member", userId=dave.user_id).json()
    by_email = invite(client, owner, org_id, "viewer", email=dave.email).json()
    mine = client.get("/v1/users/me/invitations", headers=dave.headers).json()["invitations"]
    assert [i["invitationId"] for i in mine] == [by_id["invitationId"]]
    r = client.post(f"/v1/invitations/{by_email['invitationId']}/accept", headers=dave.headers)
    assert r.status_code == 200 and r.json()["role"] == "viewer"
    assert client.get("/v1/users/me/invitations", headers=dave.headers).json() == {
        "invitations": []
    }


def test_decline_and_revoke(client: httpx.Client) -> None:
    owner, admin, bob = make_user(client), make_user(client), make_user(client)
    org_id = create_org(client, owner)["orgId"]
    join(client, owner, org_id, admin, "admin")

    first = invite(client, admin, org_id, "member", userId=bob.user_id).json()
    r = client.post(f"/v1/invitations/{first['invitationId']}/decline", headers=bob.headers)
    assert r.status_code == 204 and r.content == b""
    assert client.get("/v1/users/me/invitations", headers=bob.headers).json() == {"invitations": []}
    assert_problem(client.get(f"/v1/orgs/{org_id}", headers=bob.headers), 404, "not_found")
    assert_problem(
        client.post(f"/v1/invitations/{first['invitationId']}/accept", headers=bob.headers),
        404,
        "not_found",
    )

    second = invite(client, admin, org_id, "viewer", email="Someone@Example.com").json()
    r = client.delete(
        f"/v1/orgs/{org_id}/invitations/{second['invitationId']}", headers=admin.headers
    )
    assert r.status_code == 204
    assert client.get(f"/v1/orgs/{org_id}/invitations", headers=owner.headers).json() == {
        "invitations": []
    }
    assert_problem(
        client.delete(
            f"/v1/orgs/{org_id}/invitations/{second['invitationId']}", headers=admin.headers
        ),
        404,
        "not_found",
    )

    # Admins may not invite owners, nor revoke an owner's invitation.
    assert_problem(invite(client, admin, org_id, "owner", userId=bob.user_id), 403, "forbidden")
    to_owner = invite(client, owner, org_id, "owner", userId=bob.user_id).json()
    url = f"/v1/orgs/{org_id}/invitations/{to_owner['invitationId']}"
    assert_problem(client.delete(url, headers=admin.headers), 403, "forbidden")
    # An invitation is revoked through its own org only.
    other_org = create_org(client, admin)["orgId"]
    assert_problem(
        client.delete(
            f"/v1/orgs/{other_org}/invitations/{to_owner['invitationId']}", headers=admin.headers
        ),
        404,
        "not_found",
    )
    assert client.delete(url, headers=owner.headers).status_code == 204
    assert_problem(
        client.post(f"/v1/invitations/{to_owner['invitationId']}/accept", headers=bob.headers),
        404,
        "not_found",
    )


def test_invitation_input_and_permissions(client: httpx.Client) -> None:
    owner, member, viewer, stranger, bob = (make_user(client) for _ in range(5))
    org_id = create_org(client, owner)["orgId"]
    join(client, owner, org_id, member, "member")
    join(client, owner, org_id, viewer, "viewer")

    for body in (
        {"role": "member"},
        {"role": "member", "userId": bob.user_id, "email": bob.email},
        {"role": "boss", "userId": bob.user_id},
        {"userId": bob.user_id},
        {"role": "member", "email": "not an email"},
        {"role": "member", "userId": bob.user_id, "extra": 1},
    ):
        r = client.post(f"/v1/orgs/{org_id}/invitations", json=body, headers=owner.headers)
        assert_problem(r, 422, "validation_error")
    assert_problem(
        invite(client, owner, org_id, "member", userId="u_nobody"), 404, "user_not_found"
    )
    for user in (member, viewer):
        assert_problem(invite(client, user, org_id, "viewer", userId=bob.user_id), 403, "forbidden")
        assert_problem(
            client.get(f"/v1/orgs/{org_id}/invitations", headers=user.headers), 403, "forbidden"
        )
    assert_problem(invite(client, stranger, org_id, "viewer", userId=bob.user_id), 404, "not_found")
    assert_problem(
        invite(client, owner, "org_missing", "viewer", userId=bob.user_id), 404, "not_found"
    )
    assert_problem(
        invite(client, owner, org_id, "viewer", userId=member.user_id), 409, "already_member"
    )


def test_expired_invitations_cannot_be_used(client: httpx.Client, live: LiveServer) -> None:
    owner, bob = make_user(client), make_user(client)
    org_id = create_org(client, owner)["orgId"]
    inv = invite(client, owner, org_id, "member", userId=bob.user_id).json()
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    run_sql(
        live.settings,
        update(OrgInvitation)
        .where(OrgInvitation.id == inv["invitationId"])
        .values(expires_at=past),
    )

    assert client.get("/v1/users/me/invitations", headers=bob.headers).json() == {"invitations": []}
    assert client.get(f"/v1/orgs/{org_id}/invitations", headers=owner.headers).json() == {
        "invitations": []
    }
    for action in ("accept", "decline"):
        assert_problem(
            client.post(f"/v1/invitations/{inv['invitationId']}/{action}", headers=bob.headers),
            404,
            "not_found",
        )
    assert_problem(client.get(f"/v1/orgs/{org_id}", headers=bob.headers), 404, "not_found")

    # The expired one does not block a new invitation.
    again = invite(client, owner, org_id, "viewer", userId=bob.user_id)
    assert again.status_code == 201 and again.json()["invitationId"] != inv["invitationId"]
    r = client.post(f"/v1/invitations/{again.json()['invitationId']}/accept", headers=bob.headers)
    assert r.status_code == 200 and r.json()["role"] == "viewer"


def leave_together(live: LiveServer, org_id: str, users: list[UserHandle]) -> list[int]:
    """Each user leaves the org at the same moment, on their own connection."""
    barrier = threading.Barrier(len(users))
    statuses: list[int] = []

    def leave(user: UserHandle) -> None:
        with httpx.Client(base_url=live.url, timeout=60) as own:
            barrier.wait()
            statuses.append(remove(own, user, org_id, user).status_code)

    threads = [threading.Thread(target=leave, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_two_owners_leaving_at_once_leave_one_owner(client: httpx.Client, live: LiveServer) -> None:
    """The last-owner rule holds under concurrency (the org row is locked on PostgreSQL;
    SQLite has one writer and the count runs after the write)."""
    first, second = make_user(client), make_user(client)
    for _ in range(12):  # the race needs a few tries to show
        org_id = create_org(client, first)["orgId"]
        join(client, first, org_id, second, "owner")
        assert sorted(leave_together(live, org_id, [first, second])) == [204, 409]
        views = [
            client.get(f"/v1/orgs/{org_id}/members", headers=u.headers) for u in (first, second)
        ]
        assert sorted(r.status_code for r in views) == [200, 404]
        members = next(r.json()["members"] for r in views if r.status_code == 200)
        assert [m["role"] for m in members] == ["owner"]


def album_collaborators(client: httpx.Client, owner: UserHandle, album_id: str) -> dict[str, str]:
    r = client.get(f"/v1/albums/{album_id}/collaborators", headers=owner.headers)
    assert r.status_code == 200, r.text
    return {c["userId"]: c["permission"] for c in r.json()["collaborators"]}


def test_leaving_or_removal_drops_grants_on_the_orgs_albums(client: httpx.Client) -> None:
    owner, removed, leaver, stays = (make_user(client) for _ in range(4))
    org_id = create_org(client, owner)["orgId"]
    other_org = create_org(client, owner, "Other")["orgId"]
    albums = []
    for org in (org_id, other_org):
        r = client.post("/v1/albums", json={"title": "Team", "orgId": org}, headers=owner.headers)
        assert r.status_code == 201, r.text
        albums.append(r.json()["albumId"])
    album_id, other_album = albums
    for user in (removed, leaver, stays):
        join(client, owner, org_id, user, "member")
        join(client, owner, other_org, user, "viewer")
        for album in albums:
            r = client.put(
                f"/v1/albums/{album}/collaborators/{user.user_id}",
                json={"permission": "upload"},
                headers=owner.headers,
            )
            assert r.status_code == 200, r.text
    assert upload(client, removed, albumId=album_id).status_code == 201

    assert remove(client, owner, org_id, removed).status_code == 204
    assert remove(client, leaver, org_id, leaver).status_code == 204
    # Only their grants on this org's albums go.
    assert album_collaborators(client, owner, album_id) == {stays.user_id: "upload"}
    assert album_collaborators(client, owner, other_album) == {
        removed.user_id: "upload",
        leaver.user_id: "upload",
        stays.user_id: "upload",
    }
    for user in (removed, leaver):
        assert_problem(upload(client, user, albumId=album_id), 404, "not_found")
        assert_problem(client.get(f"/v1/albums/{album_id}", headers=user.headers), 404, "not_found")
    assert upload(client, stays, albumId=album_id).status_code == 201
    assert upload(client, removed, albumId=other_album).status_code == 201


def test_a_managers_invitations_go_when_they_stop_managing(client: httpx.Client) -> None:
    owner, demoted, removed, leaver, kept = (make_user(client) for _ in range(5))
    org_id = create_org(client, owner)["orgId"]
    other_org = create_org(client, owner, "Other")["orgId"]
    join(client, owner, org_id, demoted, "owner")
    join(client, owner, other_org, demoted, "owner")
    for user in (removed, leaver, kept):
        join(client, owner, org_id, user, "admin")

    def send(by: UserHandle, org: str = org_id) -> str:
        r = invite(client, by, org, "viewer", email=f"{uuid.uuid4().hex[:12]}@example.com")
        assert r.status_code == 201, r.text
        invitation_id: str = r.json()["invitationId"]
        return invitation_id

    def pending(org: str = org_id) -> set[str]:
        r = client.get(f"/v1/orgs/{org}/invitations", headers=owner.headers)
        assert r.status_code == 200, r.text
        return {i["invitationId"] for i in r.json()["invitations"]}

    sent = {user.user_id: send(user) for user in (owner, demoted, removed, leaver, kept)}
    elsewhere = send(demoted, other_org)
    to_bob = make_user(client)
    by_id = invite(client, demoted, org_id, "member", userId=to_bob.user_id).json()

    # Still a manager (owner -> admin): their invitations stand.
    assert put_role(client, owner, org_id, demoted, "admin").status_code == 200
    assert pending() == set(sent.values()) | {by_id["invitationId"]}
    assert put_role(client, owner, org_id, demoted, "member").status_code == 200
    assert put_role(client, owner, org_id, kept, "admin").status_code == 200  # no change
    assert remove(client, owner, org_id, removed).status_code == 204
    assert remove(client, leaver, org_id, leaver).status_code == 204
    assert pending() == {sent[owner.user_id], sent[kept.user_id]}
    assert pending(other_org) == {elsewhere}
    assert client.get("/v1/users/me/invitations", headers=to_bob.headers).json() == {
        "invitations": []
    }
    assert_problem(
        client.post(f"/v1/invitations/{by_id['invitationId']}/accept", headers=to_bob.headers),
        404,
        "not_found",
    )

    # A member or viewer sent none; removing one leaves everyone else's alone.
    assert remove(client, owner, org_id, demoted).status_code == 204
    assert pending() == {sent[owner.user_id], sent[kept.user_id]}
