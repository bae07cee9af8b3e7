"""Takedowns and suspensions beyond the matrices, on both backends: who may act,
the refusals, the counter-notice, what the owner is told, the legal hold over
every way an image's bytes are removed, and the CLI."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import httpx
from typer.testing import CliRunner

from imghost.accounts import services as accounts
from imghost.cli.commands import cli
from imghost.context import AppContext
from imghost.settings import Settings
from tests.conftest import LiveServer
from tests.factories import UserHandle, assert_problem, make_user, upload_ok
from tests.helpers.context import with_ctx
from tests.integration.accounts.test_deletion import count, request_deletion, run_deletions
from tests.integration.exports.test_export import download, run_export
from tests.integration.lifecycle.helpers import DAY, image_keys, run_sweep
from tests.integration.notifications.receivers import SmtpSink


def _admin(client: httpx.Client, live: LiveServer) -> UserHandle:
    admin = make_user(client)

    async def grant(ctx: AppContext) -> None:
        async with ctx.sessions() as session:
            await accounts.set_admin(session, admin.user_id, True)
            await session.commit()

    with_ctx(live.settings, grant)
    return admin


def _take_down(client: httpx.Client, admin: UserHandle, image_id: str) -> httpx.Response:
    return client.post(
        f"/v1/admin/images/{image_id}/takedown",
        headers=admin.headers,
        json={"reason": "DMCA notice", "reference": "DMCA-1"},
    )


def _kinds(client: httpx.Client, user: UserHandle) -> list[str]:
    r = client.get("/v1/notifications", headers=user.headers)
    assert r.status_code == 200, r.text
    return [n["kind"] for n in r.json()["notifications"]]


def test_takedown_counter_notice_and_reinstate(client: httpx.Client, live: LiveServer) -> None:
    owner, other = make_user(client), make_user(client)
    admin = _admin(client, live)
    image_id = upload_ok(client, owner)["imageId"]
    url = f"/v1/admin/images/{image_id}/takedown"
    body = {"reason": "DMCA notice", "reference": "DMCA-1"}
    assert_problem(client.post(url, json=body), 401, "unauthorized")
    assert_problem(client.post(url, headers=owner.headers, json=body), 403, "forbidden")
    missing = _take_down(client, admin, "img_missing")
    assert_problem(missing, 404, "not_found")
    empty = client.post(url, headers=admin.headers, json={"reason": ""})
    assert_problem(empty, 422, "validation_error")
    # Not taken down yet: nothing to counter or reinstate.
    notice = {"statement": "I own the rights.", "contact": "owner@example.com"}
    counter_url = f"/v1/images/{image_id}/counter-notice"
    early = client.post(counter_url, headers=owner.headers, json=notice)
    assert_problem(early, 409, "not_taken_down")

    r = _take_down(client, admin, image_id)
    assert r.status_code == 201, r.text
    taken: dict[str, Any] = r.json()
    assert taken["takedownId"].startswith("tkd_")
    assert (taken["imageId"], taken["ownerId"], taken["active"]) == (image_id, owner.user_id, True)
    assert (taken["reason"], taken["reference"], taken["createdBy"]) == (
        "DMCA notice",
        "DMCA-1",
        admin.user_id,
    )
    assert_problem(_take_down(client, admin, image_id), 409, "already_taken_down")
    assert "image.taken_down" in _kinds(client, owner)
    # Admins still see it, marked.
    r = client.get(f"/v1/images/{image_id}", headers=admin.headers)
    assert r.status_code == 200 and r.json()["withheld"] == "takedown"
    # The owner cannot share it or edit it meanwhile; they may not escape it by visibility.
    patch = client.patch(
        f"/v1/images/{image_id}", headers=owner.headers, json={"visibility": "private"}
    )
    assert_problem(patch, 451, "unavailable_for_legal_reasons")
    share = client.post(
        f"/v1/images/{image_id}/share", headers=owner.headers, json={"expiresIn": 60}
    )
    assert_problem(share, 451, "unavailable_for_legal_reasons")

    # The counter-notice: the uploader's alone.
    other_try = client.post(counter_url, headers=other.headers, json=notice)
    assert_problem(other_try, 404, "not_found")
    admin_try = client.post(counter_url, headers=admin.headers, json=notice)
    assert_problem(admin_try, 404, "not_found")
    r = client.post(counter_url, headers=owner.headers, json=notice)
    assert r.status_code == 200, r.text
    assert r.json()["counterNotice"]["statement"] == "I own the rights."
    listed = client.get(
        "/v1/admin/takedowns", headers=admin.headers, params={"imageId": image_id, "active": True}
    )
    assert listed.status_code == 200, listed.text
    [row] = listed.json()["takedowns"]
    assert row["counterNotice"]["contact"] == "owner@example.com"
    assert_problem(client.get("/v1/admin/takedowns", headers=owner.headers), 403, "forbidden")

    r = client.post(f"/v1/admin/images/{image_id}/reinstate", headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["active"] is False and r.json()["liftedBy"] == admin.user_id
    again = client.post(f"/v1/admin/images/{image_id}/reinstate", headers=admin.headers)
    assert_problem(again, 409, "not_taken_down")
    assert "image.reinstated" in _kinds(client, owner)
    assert client.get(f"/images/{image_id}").status_code == 200
    history = client.get("/v1/admin/takedowns", headers=admin.headers, params={"imageId": image_id})
    assert [t["active"] for t in history.json()["takedowns"]] == [False]


def test_legal_hold_keeps_the_bytes_through_trash_and_purge(
    client: httpx.Client, live: LiveServer
) -> None:
    owner = make_user(client)
    admin = _admin(client, live)
    image_id = upload_ok(client, owner)["imageId"]
    stored = image_keys(live, owner.user_id, image_id)
    assert stored
    assert _take_down(client, admin, image_id).status_code == 201
    # The owner may delete it, even for good: the purge waits for the hold.
    r = client.delete(f"/v1/images/{image_id}", headers=owner.headers, params={"permanent": "true"})
    assert r.status_code == 202, r.text
    assert r.json()["purged"] is False
    far = dt.datetime.now(dt.UTC) + 400 * DAY
    assert run_sweep(live, far).purged == 0
    assert image_keys(live, owner.user_id, image_id) == stored
    assert count(live, "SELECT count(*) FROM images WHERE id = :i", i=image_id) == 1
    # Lifted: the purge it waited for finishes at the next sweep.
    r = client.post(f"/v1/admin/images/{image_id}/reinstate", headers=admin.headers)
    assert r.status_code == 200, r.text
    assert run_sweep(live, far).purged == 1
    assert image_keys(live, owner.user_id, image_id) == []


def test_account_deletion_leaves_held_images(client: httpx.Client, live: LiveServer) -> None:
    owner = make_user(client)
    admin = _admin(client, live)
    held = upload_ok(client, owner)["imageId"]
    free = upload_ok(client, owner)["imageId"]
    assert _take_down(client, admin, held).status_code == 201
    request_deletion(client, owner)
    report = run_deletions(live, dt.datetime.now(dt.UTC) + 8 * DAY)
    assert (report.finished, report.failed) == (1, 0)
    assert image_keys(live, owner.user_id, free) == []
    assert image_keys(live, owner.user_id, held)
    assert count(live, "SELECT count(*) FROM images WHERE id = :i", i=held) == 1


def test_suspension_refusals_and_email(settings_factory: Callable[..., Settings]) -> None:
    with (
        SmtpSink() as smtp,
        LiveServer(settings_factory(smtp_url=smtp.url)) as live,
        httpx.Client(base_url=live.url, timeout=60) as client,
    ):
        _suspension_refusals(client, live, smtp)


def _suspension_refusals(client: httpx.Client, live: LiveServer, smtp: SmtpSink) -> None:
    user = make_user(client)
    admin = _admin(client, live)
    url = f"/v1/admin/users/{user.user_id}"
    r = client.post(f"{url}/suspend", headers=user.headers, json={"reason": "spam"})
    assert_problem(r, 403, "forbidden")
    r = client.post(f"{url}/unsuspend", headers=admin.headers)
    assert_problem(r, 409, "not_suspended")
    me = client.post(
        f"/v1/admin/users/{admin.user_id}/suspend", headers=admin.headers, json={"reason": "x"}
    )
    assert_problem(me, 409, "cannot_suspend_self")
    missing = client.post(
        "/v1/admin/users/u_missing/suspend", headers=admin.headers, json={"reason": "x"}
    )
    assert_problem(missing, 404, "not_found")
    r = client.post(f"{url}/suspend", headers=admin.headers, json={"reason": "spam"})
    assert r.status_code == 200, r.text
    assert r.json()["suspended"] is True and r.json()["reason"] == "spam"
    again = client.post(f"{url}/suspend", headers=admin.headers, json={"reason": "spam"})
    assert_problem(again, 409, "already_suspended")
    # Told in-app and by e-mail, with the reason.
    [mail] = smtp.wait_for(1)
    assert mail.recipients == [user.email]
    assert "suspended" in str(mail.message["Subject"])
    assert "spam" in mail.message.get_content()
    r = client.post(f"{url}/unsuspend", headers=admin.headers)
    assert r.status_code == 200 and r.json()["suspended"] is False
    assert "account.unsuspended" in _kinds(client, user)


def test_cli_takes_down_and_suspends(client: httpx.Client, live: LiveServer) -> None:
    owner = make_user(client)
    image_id = upload_ok(client, owner)["imageId"]
    s = live.settings
    env = {
        "IMGHOST_DATABASE_URL": s.database_url,
        "IMGHOST_STORAGE_URL": s.storage_url,
        "IMGHOST_SECRET_KEY": s.secret_key,
    }
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(cli, ["admin", *args], env=env)

    result = run("takedown", image_id, "--reason", "court order", "--reference", "C-1")
    assert result.exit_code == 0, result.output
    assert client.get(f"/images/{image_id}").status_code == 451
    result = run("takedown", image_id, "--reason", "again")
    assert result.exit_code == 1 and "already_taken_down" in result.output
    assert run("reinstate", image_id).exit_code == 0
    assert client.get(f"/images/{image_id}").status_code == 200

    result = run("suspend", owner.username, "--reason", "abuse")
    assert result.exit_code == 0, result.output
    assert "1 images withheld" in result.output
    assert_problem(client.get("/v1/users/me", headers=owner.headers), 403, "account_suspended")
    r = client.get(f"/images/{image_id}")
    assert r.status_code == 451 and r.json()["reason"] == "suspended"
    assert run("unsuspend", owner.email).exit_code == 0
    assert client.get(f"/images/{image_id}").status_code == 200
    assert client.get("/v1/users/me", headers=owner.headers).status_code == 200
    result = run("unsuspend", owner.email)
    assert result.exit_code == 1 and "not_suspended" in result.output


def test_export_leaves_out_taken_down_originals(
    settings_factory: Callable[..., Settings],
) -> None:
    # No in-process worker: the test runs the export job itself (as the export tests do).
    with (
        LiveServer(settings_factory(run_worker=False)) as live,
        httpx.Client(base_url=live.url, timeout=60) as client,
    ):
        _export_without_taken_down(client, live)


def _export_without_taken_down(client: httpx.Client, live: LiveServer) -> None:
    owner = make_user(client)
    admin = _admin(client, live)
    kept = upload_ok(client, owner, processed=False)["imageId"]
    taken = upload_ok(client, owner, processed=False)["imageId"]
    assert _take_down(client, admin, taken).status_code == 201
    r = client.post("/v1/users/me/export", headers=owner.headers)
    assert r.status_code == 202, r.text
    run_export(live, r.json()["exportId"])
    archive = download(client, owner)
    originals = [n for n in archive.namelist() if n.startswith("originals/")]
    assert [n.split("/")[1].split(".")[0] for n in originals] == [kept]
    meta = json.loads(archive.read("metadata.json"))
    rows = {i["id"]: i for i in meta["images"]}
    assert set(rows) == {kept, taken} and rows[taken]["withheld"] == "takedown"
