"""Collaborators by user id, username or e-mail; pending shares and their claim."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import anyio
import httpx
from sqlalchemy import func, select, update

from imghost.context import AppContext
from imghost.jobs.models import Job
from imghost.notifications.services import ADDRESS_EMAIL_JOB
from imghost.sharing import services as sharing
from imghost.sharing.models import ImageCollaborator, PendingShare
from tests.conftest import LiveServer
from tests.factories import assert_problem, make_user, upload_ok
from tests.helpers.accounts import mark_verified
from tests.integration.auth.helpers import login


def run_db(live: LiveServer, fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn(session, *args)`` in one committed transaction of the live server's database."""

    async def main() -> Any:
        ctx = AppContext.build(live.settings)
        try:
            async with ctx.sessions() as session:
                result = await fn(session, *args)
                await session.commit()
                return result
        finally:
            await ctx.close()

    return anyio.run(main)


async def _emails_to(session: Any, address: str) -> int:
    jobs = await session.scalars(select(Job).where(Job.kind == ADDRESS_EMAIL_JOB))
    return sum(1 for job in jobs if job.payload["to"] == address)


async def _grants(session: Any, image_id: str) -> int:
    return int(
        await session.scalar(select(func.count()).where(ImageCollaborator.image_id == image_id))
        or 0
    )


def _share(client: httpx.Client, iid: str, headers: dict[str, str], **body: str) -> httpx.Response:
    return client.post(f"/v1/images/{iid}/collaborators", headers=headers, json=body)


def test_by_user_id_and_by_username(client: httpx.Client) -> None:
    owner, by_id, by_name, other = (make_user(client) for _ in range(4))
    iid = upload_ok(client, owner, visibility="private")["imageId"]
    r = _share(client, iid, owner.headers, sharedWith=by_id.user_id, permission="view")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "granted" and body["sharedWith"] == by_id.user_id
    assert body["userId"] == by_id.user_id and body["visibility"] == "shared"
    # usernames match regardless of case, as signup keeps them unique
    r = _share(client, iid, owner.headers, sharedWith=by_name.username.upper(), permission="edit")
    assert r.status_code == 200, r.text
    assert r.json()["userId"] == by_name.user_id and r.json()["permission"] == "edit"
    assert client.get(f"/v1/images/{iid}", headers=by_name.headers).status_code == 200
    # the bad paths: nobody by that name, the owner, a non-owner, anonymous, bad input
    r = _share(client, iid, owner.headers, sharedWith="nosuchuser", permission="view")
    assert_problem(r, 404, "not_found")
    r = _share(client, iid, owner.headers, sharedWith=owner.username, permission="view")
    assert_problem(r, 400, "cannot_share_with_owner")
    r = _share(client, iid, by_name.headers, sharedWith=other.user_id, permission="view")
    assert_problem(r, 403, "forbidden")
    r = _share(client, iid, {}, sharedWith=other.user_id, permission="view")
    assert r.status_code == 401
    r = _share(client, iid, owner.headers, sharedWith=other.user_id, permission="own")
    assert_problem(r, 422, "validation_error")
    r = _share(client, "img_nope", owner.headers, sharedWith=other.user_id, permission="view")
    assert_problem(r, 404, "not_found")
    listed = client.get(f"/v1/images/{iid}/collaborators", headers=owner.headers).json()
    assert {c["userId"] for c in listed["collaborators"]} == {by_id.user_id, by_name.user_id}


def test_by_email_answers_alike_and_grants_nothing_until_claimed(
    live: LiveServer, client: httpx.Client
) -> None:
    owner, invitee = make_user(client), make_user(client)
    iid = upload_ok(client, owner, visibility="shared")["imageId"]
    nobody = f"Nobody.{invitee.username}@Example.com"
    answers = []
    for address in (invitee.email.upper(), nobody):
        r = _share(client, iid, owner.headers, sharedWith=f" {address} ", permission="download")
        assert r.status_code == 202, r.text
        answers.append(r.json())
    # the same shape and values, whether or not an account has the address
    assert [sorted(a) for a in answers] == [
        ["expiresAt", "grantExpiresAt", "permission", "sharedWith", "status"]
    ] * 2
    assert answers[0]["sharedWith"] == invitee.email
    assert answers[1]["sharedWith"] == nobody.lower()
    assert {a["status"] for a in answers} == {"invited"}
    assert {a["permission"] for a in answers} == {"download"}
    # each address gets one e-mail; the pending share grants nothing
    assert run_db(live, _emails_to, invitee.email) == 1
    assert run_db(live, _emails_to, nobody.lower()) == 1
    assert run_db(live, _grants, iid) == 0
    assert_problem(client.get(f"/v1/images/{iid}", headers=invitee.headers), 403, "forbidden")
    listed = client.get(f"/v1/images/{iid}/collaborators", headers=owner.headers).json()
    assert listed["collaborators"] == []
    assert sorted(p["email"] for p in listed["pending"]) == sorted([invitee.email, nobody.lower()])
    # asking again renews it without a second e-mail
    r = _share(client, iid, owner.headers, sharedWith=invitee.email, permission="view")
    assert r.status_code == 202 and r.json()["permission"] == "view"
    assert run_db(live, _emails_to, invitee.email) == 1
    # the claim (verification's call) grants it, once
    assert run_db(live, sharing.claim_pending_shares, invitee.user_id, invitee.email) == 1
    assert run_db(live, sharing.claim_pending_shares, invitee.user_id, invitee.email) == 0
    assert client.get(f"/v1/images/{iid}", headers=invitee.headers).status_code == 200
    assert_problem(client.get(f"/images/{iid}", headers=invitee.headers), 403, "forbidden")
    listed = client.get(f"/v1/images/{iid}/collaborators", headers=owner.headers).json()
    assert [(c["userId"], c["permission"]) for c in listed["collaborators"]] == [
        (invitee.user_id, "view")
    ]
    assert [p["email"] for p in listed["pending"]] == [nobody.lower()]
    # withdrawn before it is claimed
    gone = client.delete(f"/v1/images/{iid}/pending-shares/{nobody}", headers=owner.headers)
    assert gone.status_code == 204
    again = client.delete(f"/v1/images/{iid}/pending-shares/{nobody}", headers=owner.headers)
    assert_problem(again, 404, "not_found")
    stranger = client.delete(f"/v1/images/{iid}/pending-shares/{nobody}", headers=invitee.headers)
    assert_problem(stranger, 403, "forbidden")


def test_email_share_refusals(live: LiveServer, client: httpx.Client) -> None:
    owner, other = make_user(client), make_user(client)
    iid = upload_ok(client, owner)["imageId"]
    r = _share(client, iid, owner.headers, sharedWith="not@an-address", permission="view")
    assert_problem(r, 422, "invalid_email")
    r = _share(client, iid, other.headers, sharedWith="x@example.com", permission="view")
    assert_problem(r, 403, "forbidden")
    r = _share(client, iid, {}, sharedWith="x@example.com", permission="view")
    assert r.status_code == 401
    # nothing was written for any refusal: no pending share, no e-mail
    assert run_db(live, _emails_to, "x@example.com") == 0
    assert run_db(live, _emails_to, "not@an-address") == 0


async def _expire_all(session: Any) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    await session.execute(update(PendingShare).values(expires_at=past))


async def _pending_count(session: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(PendingShare)) or 0)


def test_claim_skips_expired_own_and_held(live: LiveServer, client: httpx.Client) -> None:
    owner, invitee = make_user(client), make_user(client)
    expired = upload_ok(client, owner, visibility="shared")["imageId"]
    r = _share(client, expired, owner.headers, sharedWith=invitee.email, permission="view")
    assert r.status_code == 202
    run_db(live, _expire_all)
    held = upload_ok(client, owner, visibility="shared")["imageId"]
    r = _share(client, held, owner.headers, sharedWith=invitee.user_id, permission="edit")
    assert r.status_code == 200
    r = _share(client, held, owner.headers, sharedWith=invitee.email, permission="view")
    assert r.status_code == 202
    mine = upload_ok(client, invitee, visibility="shared")["imageId"]
    r = _share(client, mine, invitee.headers, sharedWith=invitee.email, permission="view")
    assert r.status_code == 202  # the same answer: whose address it is is not looked at
    assert run_db(live, sharing.claim_pending_shares, invitee.user_id, invitee.email) == 0
    assert run_db(live, _pending_count) == 0  # every one was settled
    assert_problem(client.get(f"/v1/images/{expired}", headers=invitee.headers), 403, "forbidden")
    perms = client.get(f"/v1/images/{held}/collaborators", headers=owner.headers).json()
    assert [c["permission"] for c in perms["collaborators"]] == ["edit"]  # kept, not lowered


def test_album_by_username_and_email(live: LiveServer, client: httpx.Client) -> None:
    owner, friend, invitee = (make_user(client) for _ in range(3))
    r = client.post("/v1/albums", headers=owner.headers, json={"title": "Trip"})
    assert r.status_code == 201, r.text
    aid = r.json()["albumId"]
    url = f"/v1/albums/{aid}/collaborators"
    r = client.post(
        url, headers=owner.headers, json={"sharedWith": friend.username, "permission": "upload"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "granted" and r.json()["visibility"] == "shared"
    r = client.post(
        url, headers=owner.headers, json={"sharedWith": invitee.email, "permission": "view"}
    )
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "invited"
    assert client.get(f"/v1/albums/{aid}", headers=invitee.headers).status_code == 404
    r = client.post(
        url, headers=owner.headers, json={"sharedWith": "later@example.com", "permission": "view"}
    )
    assert r.status_code == 202, r.text
    listed = client.get(url, headers=owner.headers).json()
    assert [c["userId"] for c in listed["collaborators"]] == [friend.user_id]
    assert sorted(p["email"] for p in listed["pending"]) == ["later@example.com", invitee.email]
    pending = f"/v1/albums/{aid}/pending-shares/later@example.com"
    assert_problem(client.delete(pending, headers=friend.headers), 403, "forbidden")
    assert client.delete(pending, headers=owner.headers).status_code == 204
    assert_problem(client.delete(pending, headers=owner.headers), 404, "not_found")
    assert run_db(live, sharing.claim_pending_shares, invitee.user_id, invitee.email) == 1
    assert client.get(url, headers=owner.headers).json()["pending"] == []
    r = client.get(f"/v1/albums/{aid}", headers=invitee.headers)
    assert r.status_code == 200 and r.json()["permission"] == "view"
    r = client.post(
        url, headers=friend.headers, json={"sharedWith": "z@example.com", "permission": "view"}
    )
    assert_problem(r, 403, "forbidden")
    r = client.post(url, headers=owner.headers, json={"sharedWith": "ghost", "permission": "view"})
    assert_problem(r, 404, "not_found")
    r = client.post(
        "/v1/albums/alb_nope/collaborators",
        headers=owner.headers,
        json={"sharedWith": "z@example.com", "permission": "view"},
    )
    assert_problem(r, 404, "not_found")


def test_a_verified_account_claims_at_sign_in_and_refresh(
    live: LiveServer, client: httpx.Client
) -> None:
    # The address already had a verified account: the share still waits, so
    # the owner learns nothing when sharing, and arrives at the next sign-in
    # (or token refresh, for a session that lasts).
    owner, ann, bob = make_user(client), make_user(client), make_user(client)
    mark_verified(live.settings, ann.user_id, bob.user_id)
    first = upload_ok(client, owner, visibility="private")["imageId"]
    second = upload_ok(client, owner, visibility="private")["imageId"]
    for iid, who in ((first, ann), (second, bob)):
        r = _share(client, iid, owner.headers, sharedWith=who.email.upper(), permission="view")
        assert r.status_code == 202, r.text
        assert client.get(f"/v1/images/{iid}", headers=who.headers).status_code == 403

    signed_in = login(client, ann.email, ann.password)
    headers = {"Authorization": f"Bearer {signed_in['accessToken']}"}
    assert client.get(f"/v1/images/{first}", headers=headers).status_code == 200

    refreshed = client.post("/v1/auth/refresh", json={"refreshToken": bob.refresh_token})
    assert refreshed.status_code == 200, refreshed.text
    headers = {"Authorization": f"Bearer {refreshed.json()['accessToken']}"}
    assert client.get(f"/v1/images/{second}", headers=headers).status_code == 200
