"""Pure parts of notifications: kinds, signatures, SMTP URLs, SSRF rules, backoff, e-mail."""

from __future__ import annotations

import ipaddress
import time

import anyio
import pytest

from imghost.checks import check_settings
from imghost.notifications import addresses
from imghost.notifications.email import build_message, link_for
from imghost.notifications.kinds import matches, subscribed, valid_pattern
from imghost.notifications.signing import new_secret, payload_bytes, sign, verify
from imghost.notifications.smtp_url import parse_smtp_url
from imghost.notifications.tasks import RETRY_CAP, retry_delay
from imghost.settings import Settings, SettingsError


def test_kind_patterns() -> None:
    assert all(valid_pattern(p) for p in ["*", "share.image", "share.*", "quota.warning"])
    assert not any(valid_pattern(p) for p in ["", "Share", "share.", "*.image", "a b", "x" * 65])
    assert matches("*", "share.image") and matches("share.*", "share.album")
    assert not matches("share.*", "shared.image") and not matches("share.image", "share.album")
    assert subscribed(["quota.warning", "share.*"], "share.image")
    assert not subscribed(["quota.warning"], "share.image")


def test_signature_round_trip_and_tampering() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_") and len(secret) > 40
    body = payload_bytes({"id": "ntf_1", "kind": "share.image", "data": {"b": 1, "a": "é"}})
    assert body == '{"data":{"a":"é","b":1},"id":"ntf_1","kind":"share.image"}'.encode()
    header = sign(secret, body)
    assert header.startswith("t=") and ",v1=" in header
    assert verify(secret, body, header)
    assert not verify(secret, body + b" ", header)
    assert not verify("whsec_other", body, header)
    assert not verify(secret, body, "v1=abc")
    old = sign(secret, body, timestamp=int(time.time()) - 3600)
    assert not verify(secret, body, old)  # replay of an old request
    # The documented recipe: hex HMAC-SHA256 of f"{t}." + body.
    import hashlib
    import hmac

    t = 1700000000
    mac = hmac.new(secret.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign(secret, body, timestamp=t) == f"t={t},v1={mac}"


def test_smtp_urls() -> None:
    plain = parse_smtp_url("smtp://mail.example.com")
    assert (plain.host, plain.port, plain.use_tls, plain.start_tls) == (
        "mail.example.com",
        25,
        False,
        None,
    )
    auth = parse_smtp_url("smtp://me%40x.org:p%3Ass@mail.example.com:587?starttls=true")
    assert (auth.username, auth.password, auth.port, auth.start_tls) == (
        "me@x.org",
        "p:ss",
        587,
        True,
    )
    tls = parse_smtp_url("smtps://mail.example.com")
    assert (tls.port, tls.use_tls, tls.start_tls) == (465, True, False)
    for bad, message in [
        ("http://mail", "must start with"),
        ("smtp://", "names no host"),
        ("smtp://h:99999", "invalid port"),
        ("smtp://h?tls=1", "unknown option"),
        ("smtp://h?starttls=maybe", "starttls must be"),
        ("smtps://h?starttls=true", "TLS already"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_smtp_url(bad)


def test_settings_refuse_bad_notification_values() -> None:
    check_settings(Settings(smtp_url="smtps://u:p@mail.example.com"))
    for bad in [
        {"smtp_url": "mail.example.com"},
        {"mail_from": "nobody"},
        {"webhook_timeout": 0},
        {"webhook_retry_base": float("nan")},
        {"webhook_max_attempts": 0},
    ]:
        with pytest.raises(SettingsError):
            check_settings(Settings(**bad))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ip", "public"),
    [
        ("93.184.215.14", True),
        ("2606:4700::1111", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:93.184.215.14", True),
    ],
)
def test_address_rules(ip: str, public: bool) -> None:
    address = ipaddress.ip_address(ip)
    assert addresses.allowed(address, allow_private=False) is public
    if ip not in ("0.0.0.0", "224.0.0.1"):
        assert addresses.allowed(address, allow_private=True)
    else:
        assert not addresses.allowed(address, allow_private=True)  # never useful


def test_target_pins_the_checked_address() -> None:
    async def main() -> None:
        pinned = await addresses.target("http://localhost:8123/a/b?c=d", allow_private=True)
        assert pinned.url in ("http://127.0.0.1:8123/a/b?c=d", "http://[::1]:8123/a/b?c=d")
        assert pinned.host_header == "localhost:8123" and pinned.server_name is None
        secure = await addresses.target("https://localhost/x", allow_private=True)
        assert secure.url.endswith(":443/x") and secure.server_name == "localhost"
        assert secure.host_header == "localhost"
        literal = await addresses.target("https://[::1]:9/x", allow_private=True)
        assert literal.url == "https://[::1]:9/x" and literal.server_name is None
        with pytest.raises(addresses.AddressRefused):
            await addresses.target("http://localhost:8123/", allow_private=False)
        with pytest.raises(addresses.Unresolvable):
            await addresses.target("http://no-such-host.invalid/", allow_private=True)

    anyio.run(main)


def test_retry_delay_doubles_and_is_capped() -> None:
    for attempt, expected in [(1, 30.0), (2, 60.0), (3, 120.0), (5, 480.0)]:
        assert expected * 0.9 <= retry_delay(30.0, attempt) <= expected * 1.1
    assert retry_delay(30.0, 40) <= RETRY_CAP * 1.1


def test_email_message_and_links() -> None:
    base = "https://img.example.com"
    assert link_for(base, {"imageId": "img_1"}) == f"{base}/v1/images/img_1"
    assert link_for(base, {"albumId": "alb_1"}) == f"{base}/v1/albums/alb_1"
    assert link_for(base, {"invitationId": "inv_1"}) == f"{base}/v1/users/me/invitations"
    assert link_for(base, {"url": "https://x.example/y"}) == "https://x.example/y"
    assert link_for(base, {"url": "javascript:alert(1)"}) == f"{base}/v1/notifications"
    message = build_message(
        sender="imghost@example.com",
        recipient="ann@example.com",
        title="bob shared\nan image",
        body="Hello",
        data={"imageId": "img_1"},
        base_url=base,
        notification_id="ntf_1",
    )
    assert message["Subject"] == "[imghost] bob shared an image"  # one line, always
    assert message["Message-ID"].endswith("@example.com>")
    text = message.get_content()
    assert text.startswith("Hello\n\nhttps://img.example.com/v1/images/img_1\n")
