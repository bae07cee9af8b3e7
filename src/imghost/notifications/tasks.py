"""The jobs that deliver notifications: one e-mail, one webhook attempt.

E-mail: a failed send raises, and the queue retries it with its backoff; a
5xx refusal is final (``failed``). Webhooks: each job is one HTTP attempt; the
handler records it in the delivery log and, on failure, queues the next
attempt itself after ``IMGHOST_WEBHOOK_RETRY_BASE * 2**(n-1)`` seconds (at
most an hour), so the log can say when the next try comes and the number of
attempts follows ``IMGHOST_WEBHOOK_MAX_ATTEMPTS`` as it is now.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import random
import ssl
import time
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imghost import __version__
from imghost.accounts.models import User
from imghost.auth import services as auth
from imghost.db import utcnow
from imghost.ids import new_id
from imghost.jobs import queue
from imghost.jobs.registry import Registry
from imghost.notifications import addresses, email, signing
from imghost.notifications.models import (
    Notification,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)
from imghost.notifications.services import (
    ACCOUNT_EMAIL_JOB,
    ADDRESS_EMAIL_JOB,
    EMAIL_JOB,
    INVITATION_EMAIL_JOB,
    WEBHOOK_JOB,
)
from imghost.orgs.models import Org, OrgInvitation
from imghost.schemas import format_timestamp
from imghost.settings import Settings
from imghost.tls.contexts import client_context

log = logging.getLogger(__name__)

RETRY_CAP = 3600.0
MAX_ERROR = 500
USER_AGENT = f"imghost-webhooks/{__version__}"


@dataclass(frozen=True)
class NotificationDeps:
    """What the delivery jobs need, handed over by the composition root."""

    sessions: async_sessionmaker[AsyncSession]
    settings: Settings


def register(registry: Registry, deps: NotificationDeps) -> None:
    registry.add(
        EMAIL_JOB,
        functools.partial(send_email, deps),
        dead=functools.partial(send_email_dead, deps),
    )
    registry.add(INVITATION_EMAIL_JOB, functools.partial(send_invitation_email, deps))
    registry.add(ACCOUNT_EMAIL_JOB, functools.partial(send_account_email, deps))
    registry.add(ADDRESS_EMAIL_JOB, functools.partial(send_address_email, deps))
    registry.add(
        WEBHOOK_JOB,
        functools.partial(deliver_webhook, deps),
        dead=functools.partial(deliver_webhook_dead, deps),
    )


# --- e-mail ----------------------------------------------------------------------------


async def send_email(deps: NotificationDeps, payload: dict[str, Any]) -> None:
    settings = deps.settings
    async with deps.sessions() as session:
        row = (
            await session.execute(
                select(Notification, User.email)
                .join(User, User.id == Notification.user_id)
                .where(Notification.id == payload["notificationId"])
            )
        ).one_or_none()
        if row is None:
            return  # the user, and their notifications, are gone
        note, address = row
        # `failed` too: an operator retrying a dead job (`imghost jobs retry`)
        # wants it sent; `sent` or `skipped` means an earlier run settled it.
        if note.email_status not in ("queued", "failed"):
            return
        if not settings.smtp_url:
            # The embedded default: no mail server, the log is the outbox.
            # (The id, not the address: logs should not collect addresses.)
            log.info("e-mail not sent (IMGHOST_SMTP_URL is unset): %s %s", note.kind, note.id)
            note.email_status = "skipped"
            await session.commit()
            return
        message = email.build_message(
            sender=settings.mail_from,
            recipient=address,
            title=note.title,
            body=note.body,
            data=note.data,
            base_url=settings.public_base_url,
            notification_id=note.id,
        )
        note_id = note.id
    try:
        await email.send(settings.smtp_url, message, client_context(settings.tls_ca_file))
    except email.PermanentFailure as exc:
        log.warning("e-mail for %s refused for good: %s", note_id, exc)
        await _email_settled(deps, note_id, "failed")
        return
    await _email_settled(deps, note_id, "sent")


async def _email_settled(deps: NotificationDeps, notification_id: str, status: str) -> None:
    async with deps.sessions() as session:
        note = await session.get(Notification, notification_id)
        if note is not None:
            note.email_status = status
            if status == "sent":
                note.emailed_at = utcnow()
            await session.commit()


async def send_email_dead(deps: NotificationDeps, payload: dict[str, Any], error: str) -> None:
    await _email_settled(deps, payload["notificationId"], "failed")


async def send_invitation_email(deps: NotificationDeps, payload: dict[str, Any]) -> None:
    """An org invitation addressed to an e-mail address: the mail carries its id."""
    settings = deps.settings
    async with deps.sessions() as session:
        row = (
            await session.execute(
                select(OrgInvitation, Org.name)
                .join(Org, Org.id == OrgInvitation.org_id)
                .where(OrgInvitation.id == payload["invitationId"])
            )
        ).one_or_none()
        if row is None:
            return  # revoked, accepted, declined or the org is gone
        invitation, org_name = row
        if invitation.email is None or invitation.expires_at <= utcnow():
            return
        who = "Someone"
        if invitation.invited_by is not None:
            who = (
                await session.scalar(select(User.username).where(User.id == invitation.invited_by))
                or who
            )
    if not settings.smtp_url:
        log.info("invitation e-mail not sent (IMGHOST_SMTP_URL is unset): %s", invitation.id)
        return
    base = settings.public_base_url
    message = email.build_message(
        sender=settings.mail_from,
        recipient=invitation.email,
        title=f"{who} invited you to {org_name}",
        body=(
            f"{who} invited you to join the organization {org_name} on imghost as "
            f"{invitation.role}.\n\n"
            f"To accept, sign in (or sign up) at {base} with this e-mail address and send\n"
            f"POST {base}/v1/invitations/{invitation.id}/accept\n"
            f"(or /decline). The invitation id is the key: do not pass it on. It expires "
            f"{invitation.expires_at:%Y-%m-%d %H:%M} UTC."
        ),
        data={"url": f"{base}/"},
        base_url=base,
        notification_id=invitation.id,
    )
    try:
        await email.send(settings.smtp_url, message, client_context(settings.tls_ca_file))
    except email.PermanentFailure as exc:
        log.warning("invitation e-mail %s refused for good: %s", invitation.id, exc)


async def send_account_email(deps: NotificationDeps, payload: dict[str, Any]) -> None:
    """A password-reset or verification e-mail: auth makes its token row and text
    (committed before the send, so a retry sends the same token), this sends it."""
    settings = deps.settings
    if not settings.smtp_url:
        # (The purpose, not the address: logs should not collect addresses.)
        log.info("account e-mail not sent (IMGHOST_SMTP_URL is unset): %s", payload.get("purpose"))
        return
    async with deps.sessions() as session:
        mail = await auth.account_email(session, settings, payload)
        await session.commit()
    if mail is None:
        return  # no such account, or nothing left to verify: nothing is sent
    message = email.build_message(
        sender=settings.mail_from,
        recipient=mail.recipient,
        title=mail.title,
        body=mail.body,
        data={"url": f"{settings.public_base_url}/"},
        base_url=settings.public_base_url,
        notification_id=str(payload.get("tokenId", "account")),
    )
    try:
        await email.send(settings.smtp_url, message, client_context(settings.tls_ca_file))
    except email.PermanentFailure as exc:
        log.warning("account e-mail %s refused for good: %s", payload.get("tokenId"), exc)


async def send_address_email(deps: NotificationDeps, payload: dict[str, Any]) -> None:
    """A message to an address that may have no account (``services.email_address``):
    everything it says is in the payload. A failed send raises and is retried."""
    settings = deps.settings
    if not settings.smtp_url:
        # Not the address: logs should not collect addresses.
        log.info("address e-mail not sent (IMGHOST_SMTP_URL is unset): %s", payload["title"])
        return
    message = email.build_message(
        sender=settings.mail_from,
        recipient=payload["to"],
        title=payload["title"],
        body=payload["body"],
        data={"url": payload["url"]},
        base_url=settings.public_base_url,
        notification_id=new_id("ntf"),
    )
    try:
        await email.send(settings.smtp_url, message, client_context(settings.tls_ca_file))
    except email.PermanentFailure as exc:
        log.warning("address e-mail refused for good: %s", exc)


# --- webhooks --------------------------------------------------------------------------


def retry_delay(base: float, attempt: int) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based): doubling, jittered."""
    delay: float = min(base * 2.0 ** (attempt - 1), RETRY_CAP)
    return delay * random.uniform(0.9, 1.1)


def webhook_payload(note: Notification) -> dict[str, Any]:
    return {
        "id": note.id,
        "kind": note.kind,
        "createdAt": format_timestamp(note.created_at),
        "title": note.title,
        "body": note.body,
        "data": note.data,
    }


async def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    seconds: float,
    allow_private: bool,
    tls: ssl.SSLContext,
) -> int:
    """One POST to the checked address; the status code, or an exception.

    ``seconds`` bounds the whole attempt: resolving, connecting, sending and
    the answer's headers (its body is never read). An https receiver's
    certificate is verified with ``tls``, for the host name of the URL (sent
    as SNI though the connection goes to the pinned address).
    """
    async with asyncio.timeout(seconds):
        pinned = await addresses.target(url, allow_private)
        sent = {**headers, "Host": pinned.host_header}
        extensions = {"sni_hostname": pinned.server_name} if pinned.server_name else {}
        # trust_env=False: no proxy from the environment may carry the request
        # elsewhere; redirects are never followed (a 3xx is a failed attempt).
        async with (
            httpx.AsyncClient(
                timeout=seconds, follow_redirects=False, trust_env=False, verify=tls
            ) as client,
            client.stream(
                "POST", pinned.url, content=body, headers=sent, extensions=extensions
            ) as answer,
        ):
            return answer.status_code


async def deliver_webhook(deps: NotificationDeps, payload: dict[str, Any]) -> None:
    settings = deps.settings
    attempt = int(payload["attempt"])
    async with deps.sessions() as session:
        row = (
            await session.execute(
                select(WebhookDelivery, Webhook, Notification)
                .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                .join(Notification, Notification.id == WebhookDelivery.notification_id)
                .where(WebhookDelivery.id == payload["deliveryId"])
            )
        ).one_or_none()
        if row is None:
            return  # the webhook (or the user) was deleted
        delivery, hook, note = row
        if delivery.status != "pending" or delivery.attempts != attempt - 1:
            return  # settled, or this attempt already ran (the job ran twice)
        if not hook.active:
            delivery.status = "failed"
            delivery.last_error = "the webhook was deactivated"
            delivery.next_attempt_at = None
            delivery.finished_at = utcnow()
            await session.commit()
            return
        url, secret, kind, delivery_id = hook.url, hook.secret, note.kind, delivery.id
        body = signing.payload_bytes(webhook_payload(note))

    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Imghost-Event": kind,
        "Imghost-Delivery": delivery_id,
        "Imghost-Attempt": str(attempt),
        signing.HEADER: signing.sign(secret, body),
    }
    started = utcnow()
    clock = time.monotonic()
    status_code: int | None = None
    error: str | None = None
    try:
        status_code = await post(
            url,
            body,
            headers,
            settings.webhook_timeout,
            settings.webhook_allow_private,
            client_context(settings.tls_ca_file),
        )
        if not 200 <= status_code < 300:
            error = f"the endpoint answered {status_code}"
            if 300 <= status_code < 400:
                error += " (redirects are not followed)"
    except addresses.AddressRefused as exc:
        error = str(exc)
    except TimeoutError:
        error = f"no answer within {settings.webhook_timeout:g} s"
    except Exception as exc:  # any failure to talk to the receiver is a failed attempt
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    duration_ms = int((time.monotonic() - clock) * 1000)
    await _record(deps, delivery_id, attempt, started, duration_ms, status_code, error)


async def _record(
    deps: NotificationDeps,
    delivery_id: str,
    attempt: int,
    started: dt.datetime,
    duration_ms: int,
    status_code: int | None,
    error: str | None,
) -> None:
    """Log the attempt and settle the delivery or queue the next attempt, in one commit."""
    settings = deps.settings
    async with deps.sessions() as session:
        delivery = await session.get(WebhookDelivery, delivery_id)
        if delivery is None:
            return  # deleted while we were sending
        session.add(
            WebhookAttempt(
                delivery_id=delivery_id,
                attempt=attempt,
                started_at=started,
                duration_ms=duration_ms,
                status_code=status_code,
                error=error[:MAX_ERROR] if error else None,
                succeeded=error is None,
            )
        )
        now = utcnow()
        delivery.attempts = attempt
        delivery.last_status_code = status_code
        delivery.last_error = error[:MAX_ERROR] if error else None
        if error is None:
            delivery.status = "succeeded"
            delivery.next_attempt_at = None
            delivery.finished_at = now
        elif attempt >= settings.webhook_max_attempts:
            delivery.status = "failed"
            delivery.next_attempt_at = None
            delivery.finished_at = now
        else:
            delay = retry_delay(settings.webhook_retry_base, attempt)
            delivery.next_attempt_at = now + dt.timedelta(seconds=delay)
            following = {"deliveryId": delivery_id, "attempt": attempt + 1}
            queue.enqueue(session, WEBHOOK_JOB, following, delay=delay)
        await session.commit()


async def deliver_webhook_dead(deps: NotificationDeps, payload: dict[str, Any], error: str) -> None:
    """The job itself kept failing (database errors, crashes): the delivery stops."""
    async with deps.sessions() as session:
        delivery = await session.get(WebhookDelivery, payload["deliveryId"])
        if delivery is not None and delivery.status == "pending":
            delivery.status = "failed"
            delivery.last_error = error[:MAX_ERROR]
            delivery.next_attempt_at = None
            delivery.finished_at = utcnow()
            await session.commit()
