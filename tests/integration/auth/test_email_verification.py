"""E-mail verification: an e-mailed token at sign-up and on request; what needs it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from imghost.settings import Settings
from tests.conftest import LiveServer
from tests.factories import assert_problem, image_bytes, make_user, upload_ok
from tests.helpers.orgs import create_org, invite
from tests.integration.auth.conftest import token_in
from tests.integration.auth.helpers import me
from tests.integration.notifications.receivers import Received, SmtpSink

SUBJECT = "[imghost] Verify your e-mail address"


@pytest.fixture
def settings(settings_factory: Any, smtp: SmtpSink) -> Settings:
    made: Settings = settings_factory(smtp_url=smtp.url)
    return made


def _mails_to(smtp: SmtpSink, email: str, count: int) -> list[Received]:
    smtp.wait_for(count)
    mails = [m for m in smtp.messages if m.recipients == [email]]
    assert all(m.message["Subject"] == SUBJECT for m in mails)
    return mails


def _verify(client: httpx.Client, token: str) -> httpx.Response:
    return client.post("/v1/auth/verify-email", json={"token": token})


def test_signup_mails_a_token_that_verifies_once(client: httpx.Client, smtp: SmtpSink) -> None:
    user = make_user(client)
    body = me(client, user.headers).json()
    assert body["emailVerified"] is False and body["emailVerifiedAt"] is None
    [mail] = _mails_to(smtp, user.email, 1)
    token = token_in(mail)

    assert _verify(client, token).status_code == 204
    body = me(client, user.headers).json()
    assert body["emailVerified"] is True and body["emailVerifiedAt"]
    assert_problem(_verify(client, token), 400, "invalid_verification_token")
    again = client.post("/v1/users/me/email/verification", headers=user.headers)
    assert_problem(again, 409, "email_already_verified")


def test_verification_on_request_and_bad_tokens(client: httpx.Client, smtp: SmtpSink) -> None:
    user = make_user(client)
    r = client.post("/v1/users/me/email/verification", headers=user.headers)
    assert r.status_code == 202 and r.json()["status"] == "accepted"
    first, second = _mails_to(smtp, user.email, 2)
    assert token_in(first) != token_in(second)
    assert_problem(_verify(client, token_in(first) + "x"), 400, "invalid_verification_token")
    assert_problem(_verify(client, "atk_x.y"), 400, "invalid_verification_token")
    assert me(client, user.headers).json()["emailVerified"] is False
    assert _verify(client, token_in(second)).status_code == 204
    assert_problem(client.post("/v1/users/me/email/verification"), 401, "unauthorized")


def test_email_invitations_need_a_verified_address(client: httpx.Client, smtp: SmtpSink) -> None:
    owner = make_user(client)
    org_id = create_org(client, owner)["orgId"]
    invitee = make_user(client)
    invitation = invite(client, owner, org_id, "member", email=invitee.email).json()
    accept = f"/v1/invitations/{invitation['invitationId']}/accept"

    refused = assert_problem(client.post(accept, headers=invitee.headers), 403, "email_unverified")
    assert "/v1/users/me/email/verification" in refused["detail"]
    [mail] = [
        m
        for m in smtp.wait_for(3)  # two verifications, one invitation
        if m.recipients == [invitee.email] and m.message["Subject"] == SUBJECT
    ]
    assert _verify(client, token_in(mail)).status_code == 204
    r = client.post(accept, headers=invitee.headers)
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "member"

    # An invitation by user id needs no verified address: it names the account.
    other = make_user(client)
    by_id = invite(client, owner, org_id, "viewer", userId=other.user_id).json()
    r = client.post(f"/v1/invitations/{by_id['invitationId']}/accept", headers=other.headers)
    assert r.status_code == 200, r.text


def test_uploads_need_a_verified_address_when_the_server_says_so(
    settings_factory: Any, smtp: SmtpSink
) -> None:
    with (
        LiveServer(settings_factory(smtp_url=smtp.url, require_verified_email=True)) as live,
        httpx.Client(base_url=live.url, timeout=60) as client,
    ):
        _uploads_wait_for_verification(client, smtp)


def _uploads_wait_for_verification(client: httpx.Client, smtp: SmtpSink) -> None:
    user = make_user(client)
    direct = client.post("/v1/images", files=_file(), headers=user.headers)
    assert_problem(direct, 403, "email_unverified")
    presigned = client.post(
        "/v1/uploads",
        json={"filename": "a.jpg", "size": 10, "contentType": "image/jpeg"},
        headers=user.headers,
    )
    assert_problem(presigned, 403, "email_unverified")
    tus = client.post(
        "/v1/tus/",
        headers={**user.headers, "Tus-Resumable": "1.0.0", "Upload-Length": "10"},
    )
    assert_problem(tus, 403, "email_unverified")
    # Everything else works unverified.
    assert client.post("/v1/albums", json={"title": "x"}, headers=user.headers).status_code == 201

    [mail] = _mails_to(smtp, user.email, 1)
    assert _verify(client, token_in(mail)).status_code == 204
    r = client.post("/v1/images", files=_file(), headers=user.headers)
    assert r.status_code == 201, r.text


def _file() -> dict[str, tuple[str, bytes, str]]:
    return {"file": ("a.jpg", image_bytes(), "image/jpeg")}


def test_verifying_claims_what_was_shared_with_the_address(
    client: httpx.Client, smtp: SmtpSink
) -> None:
    owner = make_user(client)
    user = make_user(client)
    smtp.wait_for(2)  # both sign-ups' mails
    [mail] = _mails_to(smtp, user.email, 2)
    image = upload_ok(client, owner, visibility="private")["imageId"]
    shared = client.post(
        f"/v1/images/{image}/collaborators",
        headers=owner.headers,
        json={"sharedWith": user.email, "permission": "view"},
    )
    assert shared.status_code == 202, shared.text
    assert client.get(f"/v1/images/{image}", headers=user.headers).status_code == 403
    assert _verify(client, token_in(mail)).status_code == 204
    assert client.get(f"/v1/images/{image}", headers=user.headers).status_code == 200
