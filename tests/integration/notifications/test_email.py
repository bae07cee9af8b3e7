"""Notification e-mail through a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from imghost.jobs.models import Job
from imghost.notifications.models import Notification
from imghost.notifications.services import EMAIL_JOB
from tests.conftest import LiveServer
from tests.factories import make_user, upload_ok
from tests.helpers.db import fetch
from tests.integration.notifications.helpers import share_image, wait_until
from tests.integration.notifications.receivers import SmtpSink


def test_share_is_emailed(client: httpx.Client, live: LiveServer, smtp: SmtpSink) -> None:
    owner, friend = make_user(client), make_user(client)
    image = upload_ok(client, owner, processed=False, title="Harbour at dawn")
    share_image(client, owner, image["imageId"], friend.user_id)

    [received] = smtp.wait_for(1)
    assert received.sender == "imghost@notify.test"
    assert received.recipients == [friend.email]
    message = received.message
    assert message["From"] == "imghost@notify.test"
    assert message["To"] == friend.email
    assert message["Subject"] == f"[imghost] {owner.username} shared an image with you"
    assert message.get_content_type() == "text/plain"
    text = message.get_content()
    assert "Harbour at dawn" in text
    assert f"{live.url}/v1/images/{image['imageId']}" in text  # the link
    assert message["Message-ID"] and message["Date"]

    [(_status, sent_at)] = wait_until(
        lambda: [
            r
            for r in fetch(
                live.settings, select(Notification.email_status, Notification.emailed_at)
            )
            if r[0] == "sent"
        ],
        what="email_status sent",
    )
    assert sent_at is not None
    assert smtp.attempts == 1  # sent once, not again


def test_failing_smtp_server_is_retried_with_backoff(
    client: httpx.Client, live: LiveServer, smtp: SmtpSink
) -> None:
    smtp.fail_first = 1  # 451 to the first attempt
    owner, friend = make_user(client), make_user(client)
    image = upload_ok(client, owner, processed=False)
    share_image(client, owner, image["imageId"], friend.user_id)

    [received] = smtp.wait_for(1)
    assert received.recipients == [friend.email]
    assert smtp.attempts == 2

    def job() -> Any:
        rows = fetch(live.settings, select(Job).where(Job.kind == EMAIL_JOB))
        return rows[0][0] if rows and rows[0][0].status == "done" else None

    done = wait_until(job, what="e-mail job done")
    assert done.attempts == 2
    assert "451" in (done.last_error or "")  # the first attempt's error is kept
    # The retry waited the queue's backoff (~2 s, jittered to at least 1.5 s).
    assert (done.finished_at - done.created_at).total_seconds() >= 1.5


def test_without_smtp_nothing_is_sent(settings_factory: Any, smtp: SmtpSink) -> None:
    with (
        LiveServer(settings_factory()) as live,
        httpx.Client(base_url=live.url, timeout=60) as client,
    ):
        owner, friend = make_user(client), make_user(client)
        image = upload_ok(client, owner, processed=False)
        share_image(client, owner, image["imageId"], friend.user_id)
        wait_until(
            lambda: fetch(live.settings, select(Notification.email_status)) == [("skipped",)],
            what="email_status skipped",
        )
    assert smtp.attempts == 0


def test_invitations_are_emailed(client: httpx.Client, smtp: SmtpSink) -> None:
    owner, member = make_user(client), make_user(client)
    r = client.post("/v1/orgs", json={"name": "Darkroom"}, headers=owner.headers)
    org_id = r.json()["orgId"]
    # By user id: a notification, e-mailed to the account's address.
    r = client.post(
        f"/v1/orgs/{org_id}/invitations",
        json={"userId": member.user_id, "role": "member"},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    # By address: the invitation itself, to that address (no account needed).
    r = client.post(
        f"/v1/orgs/{org_id}/invitations",
        json={"email": "newcomer@example.org", "role": "viewer"},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    invitation_id = r.json()["invitationId"]

    received = smtp.wait_for(2)
    by_address = {m.recipients[0]: m.message for m in received}
    assert set(by_address) == {member.email, "newcomer@example.org"}
    assert by_address[member.email]["Subject"] == (
        f"[imghost] {owner.username} invited you to Darkroom"
    )
    mail = by_address["newcomer@example.org"]
    assert mail["Subject"] == f"[imghost] {owner.username} invited you to Darkroom"
    text = mail.get_content()
    assert f"/v1/invitations/{invitation_id}/accept" in text and "viewer" in text


def test_users_can_turn_email_off(client: httpx.Client, live: LiveServer, smtp: SmtpSink) -> None:
    owner, quiet, chatty = make_user(client), make_user(client), make_user(client)
    r = client.get("/v1/notifications/preferences", headers=quiet.headers)
    assert r.status_code == 200 and r.json() == {"email": True}
    r = client.patch("/v1/notifications/preferences", json={"email": False}, headers=quiet.headers)
    assert r.status_code == 200 and r.json() == {"email": False}
    assert client.get("/v1/notifications/preferences", headers=quiet.headers).json() == {
        "email": False
    }
    r = client.patch("/v1/notifications/preferences", json={"email": None}, headers=quiet.headers)
    assert r.status_code == 422

    image = upload_ok(client, owner, processed=False)
    share_image(client, owner, image["imageId"], quiet.user_id)
    share_image(client, owner, image["imageId"], chatty.user_id)
    [received] = smtp.wait_for(1)
    assert received.recipients == [chatty.email]
    # The in-app notification is there all the same; its e-mail was never queued.
    r = client.get("/v1/notifications", headers=quiet.headers)
    assert [n["kind"] for n in r.json()["notifications"]] == ["share.image"]
    wait_until(
        lambda: (
            sorted((s or "") for (s,) in fetch(live.settings, select(Notification.email_status)))
            == ["", "sent"]
        ),
        what="one e-mail sent, one never queued",
    )
    assert len(fetch(live.settings, select(Job.id).where(Job.kind == EMAIL_JOB))) == 1


def test_shares_by_email_are_emailed_alike(
    client: httpx.Client, live: LiveServer, smtp: SmtpSink
) -> None:
    """A share by e-mail mails the address whether or not an account has it, and
    tells an account nothing in-app before it is claimed."""
    owner, member = make_user(client), make_user(client)
    image = upload_ok(client, owner, processed=False, title="Harbour at dawn")
    for address in (member.email, "newcomer@example.org"):
        r = client.post(
            f"/v1/images/{image['imageId']}/collaborators",
            json={"sharedWith": address, "permission": "download"},
            headers=owner.headers,
        )
        assert r.status_code == 202, r.text

    received = smtp.wait_for(2)
    by_address = {m.recipients[0]: m.message for m in received}
    assert set(by_address) == {member.email, "newcomer@example.org"}
    for address, mail in by_address.items():
        assert mail["Subject"] == f"[imghost] {owner.username} shared “Harbour at dawn” with you"
        text = mail.get_content()
        assert f"{address} download access" in text and "verify" in text
        assert f"{live.url}/v1/images/{image['imageId']}" in text
    assert fetch(live.settings, select(Notification.id)) == []
