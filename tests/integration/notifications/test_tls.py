"""Webhooks over HTTPS and e-mail over STARTTLS and SMTPS, against real TLS
servers on loopback, with certificate verification on.

The servers present leaves of a test CA that the app is told to trust with
``IMGHOST_TLS_CA_FILE``. A receiver whose certificate comes from another CA,
or names another host, must fail the delivery with an error that says so, in
the delivery log (webhooks) or in the error the e-mail job records.
One live server for the module (sqlite-local: TLS is below the backend).
"""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
from collections.abc import Iterator
from email.message import EmailMessage

import aiosmtplib
import httpx
import pytest

from imghost.notifications import email
from imghost.settings import Settings
from imghost.tls.contexts import client_context
from tests.conftest import LiveServer
from tests.factories import make_user, upload_ok
from tests.helpers.tls import TestCA
from tests.integration.moderation.world import module_settings
from tests.integration.notifications.helpers import share_image, wait_until
from tests.integration.notifications.receivers import SmtpSink, WebhookReceiver
from tests.integration.notifications.test_webhooks import create_hook, settled


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    """A CA nobody trusts: a well-formed chain that must still be refused."""
    return TestCA(tmp_path_factory.mktemp("other-ca"), "stranger CA")


@pytest.fixture(scope="module")
def smtp(ca: TestCA) -> Iterator[SmtpSink]:
    leaf = ca.issue("127.0.0.1")
    with SmtpSink(tls=leaf.server_context()) as sink:  # STARTTLS offered and required
        yield sink


@pytest.fixture(scope="module")
def live(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    ca: TestCA,
    smtp: SmtpSink,
) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("notify-tls")
    for base in module_settings(request, "sqlite-local", tmp):
        settings: Settings = dataclasses.replace(
            base,
            tls_ca_file=str(ca.cert),
            smtp_url=smtp.url,
            mail_from="imghost@notify.test",
            webhook_allow_private=True,
            webhook_max_attempts=1,  # a failed attempt settles the delivery at once
            webhook_timeout=10.0,
        )
        with LiveServer(settings) as server:
            yield server


@pytest.fixture
def client(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=60) as c:
        yield c


def test_webhooks_verify_the_receivers_certificate(
    client: httpx.Client, ca: TestCA, stranger: TestCA
) -> None:
    receivers = {
        "trusted": WebhookReceiver(tls=ca.issue("127.0.0.1").server_context()),
        "untrusted": WebhookReceiver(tls=stranger.issue("127.0.0.1").server_context()),
        "wrong name": WebhookReceiver(tls=ca.issue("hooks.example").server_context()),
    }
    owner = make_user(client)
    image = upload_ok(client, owner, processed=False)
    results = {}
    with receivers["trusted"], receivers["untrusted"], receivers["wrong name"]:
        hooks = {}
        for case, receiver in receivers.items():
            friend = make_user(client)
            hooks[case] = (friend, create_hook(client, friend, receiver.url))
            share_image(client, owner, image["imageId"], friend.user_id)
        for case, (friend, hook) in hooks.items():
            [results[case]] = settled(client, friend, hook["webhookId"])
        [request] = receivers["trusted"].requests
    assert request.headers["Imghost-Event"] == "share.image"
    assert results["trusted"]["status"] == "succeeded"
    assert results["trusted"]["lastStatusCode"] == 200
    for case, why in (
        ("untrusted", "self-signed certificate in certificate chain"),
        ("wrong name", "IP address mismatch"),
    ):
        delivery = results[case]
        assert delivery["status"] == "failed", case
        assert delivery["lastStatusCode"] is None
        assert "CERTIFICATE_VERIFY_FAILED" in delivery["lastError"], delivery
        assert why in delivery["lastError"], delivery
        assert delivery["attempts"][0]["error"] == delivery["lastError"]
    assert receivers["untrusted"].requests == receivers["wrong name"].requests == []


def test_email_goes_over_starttls_to_a_trusted_server(client: httpx.Client, smtp: SmtpSink) -> None:
    owner, friend = make_user(client), make_user(client)
    image = upload_ok(client, owner, processed=False, title="Over TLS")
    share_image(client, owner, image["imageId"], friend.user_id)
    [message] = wait_until(
        lambda: [m for m in smtp.messages if m.recipients == [friend.email]],
        what="the e-mail to the friend",
    )
    assert message.encrypted  # the server requires STARTTLS; the session used it
    assert "Over TLS" in message.message.get_content()


# --- the sender alone, against each kind of TLS server --------------------------------


def message() -> EmailMessage:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "imghost@notify.test", "a@example.com", "tls"
    m.set_content("hello")
    return m


def send(url: str, ca_file: str = "") -> None:
    asyncio.run(email.send(url, message(), client_context(ca_file)))


# What a failed verification raises: from aiosmtplib as the error connecting
# (smtps), or from ssl itself during STARTTLS; the job records either, with
# OpenSSL's reason.
REFUSED = (aiosmtplib.SMTPException, ssl.SSLCertVerificationError)


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "smtps"])
def test_smtp_verifies_the_servers_certificate(
    ca: TestCA, stranger: TestCA, implicit: bool
) -> None:
    trusted, untrusted = ca.issue("127.0.0.1"), stranger.issue("127.0.0.1")
    wrong_name = ca.issue("mail.example")
    with SmtpSink(tls=trusted.server_context(), implicit=implicit) as sink:
        send(sink.url, str(ca.cert))
        [received] = sink.wait_for(1)
        assert received.encrypted
        # The default trust (public CAs only) refuses the test CA: verification is on.
        with pytest.raises(REFUSED, match="CERTIFICATE_VERIFY_FAILED"):
            send(sink.url)
    for leaf, why in (
        (untrusted, "self-signed certificate in certificate chain"),
        (wrong_name, "IP address mismatch"),
    ):
        with SmtpSink(tls=leaf.server_context(), implicit=implicit) as sink:
            with pytest.raises(REFUSED, match="CERTIFICATE_VERIFY_FAILED") as refused:
                send(sink.url, str(ca.cert))
            assert why in str(refused.value)
            assert sink.messages == []
