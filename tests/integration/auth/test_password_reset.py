"""Password reset by an e-mailed, single-use, short-lived token."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from imghost.auth.models import AccountToken
from imghost.jobs.models import Job
from imghost.notifications.services import ACCOUNT_EMAIL_JOB
from imghost.settings import Settings
from tests.conftest import LiveServer
from tests.factories import PASSWORD, UserHandle, assert_problem, make_user
from tests.helpers.db import fetch, run_sql
from tests.integration.auth.conftest import token_in
from tests.integration.auth.helpers import bearer, login, me
from tests.integration.notifications.helpers import wait_until
from tests.integration.notifications.receivers import SmtpSink

NEW_PASSWORD = "quiet lantern orbit 41"


@pytest.fixture
def settings(settings_factory: Any, smtp: SmtpSink) -> Settings:
    made: Settings = settings_factory(
        smtp_url=smtp.url,
        mail_from="imghost@reset.test",
        account_email_rate_limit="3/hour",
        account_email_address_rate_limit="6/hour",
    )
    return made


def _ask(client: httpx.Client, email: str) -> httpx.Response:
    return client.post("/v1/auth/password-reset", json={"email": email})


def _reset_token(client: httpx.Client, smtp: SmtpSink, user: UserHandle) -> str:
    """Ask for a reset and read the token from the e-mail (after the sign-up's mail)."""
    before = len([m for m in smtp.messages if "Reset" in str(m.message["Subject"])])
    assert _ask(client, user.email).status_code == 202
    resets = wait_until(
        lambda: [m for m in smtp.messages if "Reset" in str(m.message["Subject"])][before:],
        what="the reset e-mail",
    )
    [mail] = resets
    assert mail.recipients == [user.email]
    return token_in(mail)


def _confirm(client: httpx.Client, token: str, password: str = NEW_PASSWORD) -> httpx.Response:
    return client.post(
        "/v1/auth/password-reset/confirm", json={"token": token, "password": password}
    )


def test_reset_sets_the_password_and_ends_every_session(
    client: httpx.Client, smtp: SmtpSink
) -> None:
    user = make_user(client)
    other = login(client, user.email, PASSWORD)
    token = _reset_token(client, smtp, user)

    assert _confirm(client, token).status_code == 204
    for headers in (user.headers, bearer(other["accessToken"])):
        assert_problem(me(client, headers), 401, "invalid_token")
    fresh = login(client, user.email, NEW_PASSWORD)
    # The token proved the mailbox: the address is verified too.
    assert me(client, bearer(fresh["accessToken"])).json()["emailVerified"] is True
    # Single use: the same token again is refused, and changes nothing.
    assert_problem(_confirm(client, token, "another fine phrase 77"), 400, "invalid_reset_token")
    login(client, user.email, NEW_PASSWORD)


def test_unknown_address_gets_the_same_answer_and_no_mail(
    client: httpx.Client, live: LiveServer, smtp: SmtpSink
) -> None:
    user = make_user(client)
    smtp.wait_for(1)  # the sign-up's verification e-mail
    unknown = _ask(client, "nobody-here@example.com")
    known = _ask(client, user.email.upper())
    assert unknown.status_code == known.status_code == 202
    assert unknown.content == known.content  # byte for byte
    assert known.json()["status"] == "accepted"
    # The same work for both: one e-mail job each; only the known one sends.
    jobs = wait_until(
        lambda: (
            rows
            if len(
                rows := fetch(
                    live.settings, select(Job.status).where(Job.kind == ACCOUNT_EMAIL_JOB)
                )
            )
            == 3
            and all(status == "done" for (status,) in rows)
            else None
        ),
        what="the account e-mail jobs done",
    )
    assert len(jobs) == 3  # verification, unknown reset, known reset
    assert [m.recipients for m in smtp.messages] == [[user.email], [user.email]]
    assert len(fetch(live.settings, select(AccountToken.id))) == 2


def test_expired_forged_or_superseded_tokens_are_refused(
    client: httpx.Client, live: LiveServer, smtp: SmtpSink
) -> None:
    user = make_user(client)
    token = _reset_token(client, smtp, user)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert_problem(_confirm(client, forged), 400, "invalid_reset_token")
    assert_problem(_confirm(client, "atk_nothing.at-all"), 400, "invalid_reset_token")
    assert_problem(_confirm(client, "garbage"), 400, "invalid_reset_token")
    # A weak password is refused before the token is used: it still works after.
    assert_problem(_confirm(client, token, "password12"), 422, "weak_password")

    run_sql(
        live.settings,
        update(AccountToken).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)),
    )
    assert_problem(_confirm(client, token), 400, "invalid_reset_token")
    login(client, user.email, PASSWORD)  # nothing changed

    # A password change uses up the reset tokens sent before it.
    later = _reset_token(client, smtp, user)
    r = client.post(
        "/v1/users/me/password",
        json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
        headers=user.headers,
    )
    assert r.status_code == 204
    assert_problem(_confirm(client, later, "another fine phrase 77"), 400, "invalid_reset_token")


def test_requests_are_rate_limited_per_address_and_per_email(client: httpx.Client) -> None:
    for _ in range(3):
        assert _ask(client, "someone@example.com").status_code == 202
    limited = assert_problem(_ask(client, "Someone@example.com"), 429, "rate_limited")
    assert "for this e-mail" in limited["detail"]
    # Other addresses, from the same client address: 6 an hour in all.
    for n in range(2):
        assert _ask(client, f"other{n}@example.com").status_code == 202
    by_address = _ask(client, "third@example.com")
    assert_problem(by_address, 429, "rate_limited")
    assert by_address.headers["Retry-After"]


def test_without_smtp_the_answer_is_the_same_and_nothing_is_queued(
    settings_factory: Any,
) -> None:
    settings = settings_factory()  # no IMGHOST_SMTP_URL
    with (
        LiveServer(settings) as live,
        httpx.Client(base_url=live.url, timeout=60) as client,
    ):
        user = make_user(client)  # no verification e-mail job either
        known, unknown = _ask(client, user.email), _ask(client, "nobody-here@example.com")
        assert known.status_code == unknown.status_code == 202
        assert known.content == unknown.content
        assert fetch(settings, select(Job.id).where(Job.kind == ACCOUNT_EMAIL_JOB)) == []


def test_a_reset_is_in_the_security_log(client: httpx.Client, smtp: SmtpSink) -> None:
    user = make_user(client)
    assert_problem(_confirm(client, "ihx_not_a_token"), 400, "invalid_reset_token")
    assert _confirm(client, _reset_token(client, smtp, user)).status_code == 204
    fresh = login(client, user.email, NEW_PASSWORD)
    log = client.get("/v1/users/me/security-log", headers=bearer(fresh["accessToken"])).json()
    kinds = [(e["kind"], e["details"].get("how")) for e in log["events"]]
    # one reset (the refused token recorded nothing), between the two sign-ins
    assert kinds == [("auth.login", None), ("auth.password_changed", "reset"), ("auth.login", None)]
