"""Account deletion on both backends: confirmed by the password, cancelled in
the grace period, carried out by the maintenance step after it (every byte and
row of the user's own gone, org images kept with the org under the tombstone),
and resumed after a crash in the middle."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import httpx
from sqlalchemy import text

from imghost.accounts.tasks import DeletionReport, sweep
from imghost.context import AppContext
from imghost.notifications import services as notifications
from tests.conftest import LiveServer
from tests.factories import PASSWORD, UserHandle, assert_problem, make_user, upload_ok
from tests.helpers.context import with_ctx
from tests.helpers.orgs import create_org, team
from tests.integration.lifecycle.helpers import DAY, FailingStore, keys, run_gc

GRACE_PASSED = 8 * DAY  # the default grace is 7 days


def run_deletions(
    live: LiveServer, now: dt.datetime | None = None, fail_after: int | None = None
) -> DeletionReport:
    async def work(ctx: AppContext) -> DeletionReport:
        if fail_after is not None:
            ctx = dataclasses.replace(ctx, store=FailingStore(ctx.store, fail_after))
        return await sweep(ctx.deletions, now)

    return with_ctx(live.settings, work)


def count(live: LiveServer, sql: str, **params: Any) -> int:
    async def work(ctx: AppContext) -> int:
        async with ctx.sessions() as session:
            return int(await session.scalar(text(sql), params) or 0)

    return with_ctx(live.settings, work)


def login(client: httpx.Client, user: UserHandle) -> dict[str, str]:
    r = client.post("/v1/auth/login", json={"email": user.email, "password": user.password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['accessToken']}"}


def request_deletion(client: httpx.Client, user: UserHandle) -> dict[str, Any]:
    r = client.post("/v1/users/me/deletion", headers=user.headers, json={"password": PASSWORD})
    assert r.status_code == 202, r.text
    body: dict[str, Any] = r.json()
    return body


def later() -> dt.datetime:
    return dt.datetime.now(dt.UTC) + GRACE_PASSED


def test_wrong_password_schedules_nothing(client: httpx.Client, live: LiveServer) -> None:
    user = make_user(client)
    r = client.post("/v1/users/me/deletion", headers=user.headers, json={"password": "nope" * 3})
    assert_problem(r, 403, "invalid_password")
    r = client.get("/v1/users/me/deletion", headers=user.headers)
    assert r.status_code == 200 and r.json()["status"] == "none"
    r = client.post("/v1/users/me/deletion", headers=user.headers, json={})
    assert r.status_code == 422
    assert client.get("/v1/users/me", headers=user.headers).status_code == 200
    assert run_deletions(live, later()) == DeletionReport()


def test_request_ends_credentials_and_cancel_keeps_everything(
    client: httpx.Client, live: LiveServer
) -> None:
    user = make_user(client)
    image_id = upload_ok(client, user, processed=False)["imageId"]
    r = client.post("/v1/users/me/api-keys", headers=user.headers, json={"name": "ci"})
    assert r.status_code == 201, r.text
    api_key = {"Authorization": f"Bearer {r.json()['key']}"}

    body = request_deletion(client, user)
    assert body["status"] == "scheduled"
    requested = dt.datetime.fromisoformat(body["requestedAt"])
    delete_after = dt.datetime.fromisoformat(body["deleteAfter"])
    assert delete_after - requested == 7 * DAY
    # Every session and API key ended at the request.
    assert_problem(client.get("/v1/users/me", headers=user.headers), 401, "invalid_token")
    assert_problem(client.get("/v1/users/me", headers=api_key), 401, "invalid_token")

    # Signing in again is allowed, but only to read the account, cancel or export.
    again = login(client, user)
    assert client.get("/v1/users/me", headers=again).status_code == 200
    r = client.get("/v1/users/me/deletion", headers=again)
    assert r.json()["deleteAfter"] == body["deleteAfter"]
    for r in (
        client.get(f"/v1/images/{image_id}", headers=again),
        client.patch("/v1/users/me", headers=again, json={"displayName": "x"}),
        client.post("/v1/images", headers=again, files={"file": ("a.jpg", b"x")}),
    ):
        assert_problem(r, 403, "account_pending_deletion")
    # ...and the data export.
    assert client.post("/v1/users/me/export", headers=again).status_code == 202
    assert client.get("/v1/users/me/export", headers=again).status_code == 200
    # A second request keeps the first date.
    r = client.post("/v1/users/me/deletion", headers=again, json={"password": PASSWORD})
    assert r.status_code == 202 and r.json()["deleteAfter"] == body["deleteAfter"]
    again = login(client, user)

    r = client.delete("/v1/users/me/deletion", headers=again)
    assert r.status_code == 200 and r.json()["status"] == "none"
    assert_problem(
        client.delete("/v1/users/me/deletion", headers=again), 404, "no_deletion_scheduled"
    )
    assert client.get(f"/v1/images/{image_id}", headers=again).status_code == 200
    assert run_deletions(live, later()) == DeletionReport()
    assert client.get(f"/v1/images/{image_id}", headers=again).status_code == 200


def test_the_only_owner_of_an_org_cannot_delete_the_account(client: httpx.Client) -> None:
    user = make_user(client)
    org = create_org(client, user, "Solo")
    r = client.post("/v1/users/me/deletion", headers=user.headers, json={"password": PASSWORD})
    body = assert_problem(r, 409, "last_owner")
    assert org["orgId"] in body["detail"]
    assert client.get("/v1/users/me/deletion", headers=user.headers).json()["status"] == "none"


def _own_rows(live: LiveServer, user_id: str) -> dict[str, int]:
    found = {
        table: count(live, f"SELECT count(*) FROM {table} WHERE {column} = :u", u=user_id)
        for table, column in (
            ("auth_sessions", "user_id"),
            ("api_keys", "user_id"),
            ("org_members", "user_id"),
            ("notifications", "user_id"),
            ("uploads", "owner_id"),
            ("storage_usage", "account_id"),
            ("quota_blobs", "account_id"),
            ("image_collaborators", "user_id"),
            ("share_links", "created_by"),
        )
    }
    found["personal albums"] = count(
        live, "SELECT count(*) FROM albums WHERE owner_id = :u AND org_id IS NULL", u=user_id
    )
    found["personal images"] = count(
        live, "SELECT count(*) FROM images WHERE owner_id = :u AND org_id IS NULL", u=user_id
    )
    return found


def _populate(client: httpx.Client) -> tuple[Any, UserHandle, str, str]:
    """A team whose member has a personal image (in a personal album, with a share
    link and a collaborator) and an image in the team's album."""
    crew = team(client)
    member = crew.member
    personal = upload_ok(client, member, tags="sea")["imageId"]
    album = client.post("/v1/albums", headers=member.headers, json={"title": "Mine"}).json()
    r = client.post(
        f"/v1/albums/{album['albumId']}/images",
        headers=member.headers,
        json={"imageIds": [personal]},
    )
    assert r.status_code == 200, r.text
    assert client.post(f"/v1/images/{personal}/links", headers=member.headers, json={}).is_success
    r = client.put(
        f"/v1/images/{personal}/collaborators/{crew.owner.user_id}",
        headers=member.headers,
        json={"permission": "view"},
    )
    assert r.is_success, r.text
    org_image = upload_ok(client, member, albumId=crew.album)["imageId"]
    return crew, member, personal, org_image


def _org_usage(live: LiveServer, org_id: str) -> int:
    return count(
        live,
        "SELECT originals_bytes + derivatives_bytes FROM storage_usage WHERE account_id = :o",
        o=org_id,
    )


def test_deletion_purges_the_account_and_leaves_org_images_with_the_org(
    client: httpx.Client, live: LiveServer
) -> None:
    crew, member, personal, org_image = _populate(client)
    org_usage = _org_usage(live, crew.org)
    assert org_usage > 0
    request_deletion(client, member)
    # Before the grace ends nothing happens.
    assert run_deletions(live) == DeletionReport()
    assert keys(live, f"{member.user_id}/{personal}/")

    report = run_deletions(live, later())
    assert (report.begun, report.finished, report.failed) == (1, 1, 0)
    _assert_deleted(client, live, crew, member, personal, org_image, org_usage)
    # A second pass has nothing left to do.
    assert run_deletions(live, later()) == DeletionReport()


def _assert_deleted(
    client: httpx.Client,
    live: LiveServer,
    crew: Any,
    member: UserHandle,
    personal: str,
    org_image: str,
    org_usage: int,
) -> None:
    # Bytes: only the org image is left under the user's prefix.
    left = keys(live, f"{member.user_id}/")
    assert left and all(key.startswith(f"{member.user_id}/{org_image}/") for key in left), left
    assert keys(live, f"exports/{member.user_id}/") == []
    # Rows: none of the user's own; the org image and the org's usage are untouched.
    assert not any(_own_rows(live, member.user_id).values()), _own_rows(live, member.user_id)
    assert _org_usage(live, crew.org) == org_usage
    r = client.get(f"/v1/images/{org_image}", headers=crew.owner.headers)
    assert r.status_code == 200 and r.json()["ownerId"] == member.user_id
    assert client.get(f"/images/{org_image}", headers=crew.owner.headers).status_code == 200
    assert client.get(f"/v1/images/{personal}", headers=crew.owner.headers).status_code == 404
    # The tombstone: no sign-in, and the e-mail and username are free again.
    r = client.post("/v1/auth/login", json={"email": member.email, "password": PASSWORD})
    assert_problem(r, 401, "invalid_credentials")
    assert (
        count(
            live,
            "SELECT count(*) FROM users WHERE id = :u AND purged_at IS NOT NULL",
            u=member.user_id,
        )
        == 1
    )
    again = make_user(client, member.username)
    assert again.user_id != member.user_id
    # Nothing is sent to a tombstone.

    async def tell(ctx: AppContext) -> None:
        async with ctx.sessions() as session:
            await notifications.notify(
                session, user_id=member.user_id, kind="quota.warning", title="t", body="b", data={}
            )
            await session.commit()

    with_ctx(live.settings, tell)
    assert (
        count(live, "SELECT count(*) FROM notifications WHERE user_id = :u", u=member.user_id) == 0
    )
    assert run_gc(live, grace=0, dry_run=True).orphan_blobs == 0


def test_a_crash_in_the_middle_is_finished_by_the_next_pass(
    client: httpx.Client, live: LiveServer
) -> None:
    crew, member, personal, org_image = _populate(client)
    org_usage = _org_usage(live, crew.org)
    request_deletion(client, member)
    stored = keys(live, f"{member.user_id}/{personal}/")
    assert len(stored) > 2

    # The store fails after two deletes: the account is a tombstone, part of the
    # image's bytes are gone, its rows and the user's are still there.
    report = run_deletions(live, later(), fail_after=2)
    assert (report.begun, report.finished, report.failed) == (1, 0, 1)
    assert len(keys(live, f"{member.user_id}/{personal}/")) == len(stored) - 2
    assert _own_rows(live, member.user_id)["personal images"] == 1
    r = client.post("/v1/auth/login", json={"email": member.email, "password": PASSWORD})
    assert_problem(r, 401, "invalid_credentials")

    report = run_deletions(live, later())
    assert (report.begun, report.finished, report.failed) == (0, 1, 0)
    _assert_deleted(client, live, crew, member, personal, org_image, org_usage)
