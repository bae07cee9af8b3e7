"""Notification e-mail: a plain-text message, sent over SMTP by a job."""

from __future__ import annotations

import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import aiosmtplib

from imghost.notifications.smtp_url import parse_smtp_url
from imghost.tls.contexts import client_context

SMTP_TIMEOUT = 30.0


def link_for(base_url: str, data: dict[str, Any]) -> str:
    """Where the e-mail points: what the notification is about, as an API URL."""
    url = data.get("url")
    if isinstance(url, str) and url.startswith(("http://", "https://")):
        return url
    if isinstance(data.get("imageId"), str):
        return f"{base_url}/v1/images/{data['imageId']}"
    if isinstance(data.get("albumId"), str):
        return f"{base_url}/v1/albums/{data['albumId']}"
    if isinstance(data.get("invitationId"), str):
        return f"{base_url}/v1/users/me/invitations"
    return f"{base_url}/v1/notifications"


def build_message(
    *,
    sender: str,
    recipient: str,
    title: str,
    body: str,
    data: dict[str, Any],
    base_url: str,
    notification_id: str,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    # Header injection is impossible (EmailMessage refuses newlines), but a
    # title is one line anyway.
    message["Subject"] = f"[imghost] {' '.join(title.split())}"
    message["Date"] = formatdate(localtime=False)
    domain = sender.rpartition("@")[2].strip(">") or "imghost"
    message["Message-ID"] = make_msgid(idstring=notification_id, domain=domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(
        f"{body}\n\n{link_for(base_url, data)}\n\n"
        f"-- \nimghost at {base_url}\n"
        f"All your notifications: {base_url}/v1/notifications\n"
    )
    return message


class PermanentFailure(Exception):
    """The server refused the message for good (5xx): retrying cannot help."""


async def send(smtp_url: str, message: EmailMessage, tls: ssl.SSLContext | None = None) -> None:
    """Send one message; with TLS (smtps, STARTTLS) the server's certificate is
    verified with ``tls`` (default: the public CAs) for the URL's host name."""
    target = parse_smtp_url(smtp_url)
    try:
        await aiosmtplib.send(
            message,
            hostname=target.host,
            port=target.port,
            username=target.username,
            password=target.password,
            use_tls=target.use_tls,
            start_tls=target.start_tls,
            timeout=SMTP_TIMEOUT,
            tls_context=tls or client_context(),
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        if codes and all(500 <= c < 600 for c in codes):
            raise PermanentFailure(f"recipient refused: {exc.recipients[0].message}") from exc
        raise
    except aiosmtplib.SMTPResponseException as exc:
        if 500 <= exc.code < 600 and not isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            raise PermanentFailure(f"SMTP {exc.code}: {exc.message}") from exc
        raise
