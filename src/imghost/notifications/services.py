"""Notify a user: the contract other features call, and the in-app list.

``notify`` writes the in-app row and queues its deliveries (an e-mail job,
one job per subscribed webhook) in the caller's transaction, so a
notification exists exactly when what it tells about was committed. It never
commits and never touches the network: the jobs do, with retries.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from imghost import cursors
from imghost.accounts.models import User
from imghost.db import utcnow
from imghost.errors import NotFound
from imghost.ids import new_id
from imghost.jobs import queue
from imghost.notifications.kinds import subscribed
from imghost.notifications.models import (
    Notification,
    NotificationPreference,
    Webhook,
    WebhookDelivery,
)

EMAIL_JOB = "notification_email"
WEBHOOK_JOB = "webhook_delivery"
INVITATION_EMAIL_JOB = "invitation_email"
# Password-reset and verification e-mail: the payload names a token row (and
# the address or user), never the token itself (auth.services.account_email).
ACCOUNT_EMAIL_JOB = "account_email"
ADDRESS_EMAIL_JOB = "address_email"
# E-mail retries through the queue's own backoff (~2 s, 4 s, 8 s, ...).
EMAIL_MAX_ATTEMPTS = 6


def email_address(session: AsyncSession, *, to: str, title: str, body: str, url: str) -> None:
    """Queue one e-mail to an address that may have no account (a share by e-mail).

    No in-app row: there may be nobody to show it to, and looking the address
    up would make the caller's request behave differently when there is.
    """
    queue.enqueue(
        session,
        ADDRESS_EMAIL_JOB,
        {"to": to, "title": title, "body": body, "url": url},
        max_attempts=EMAIL_MAX_ATTEMPTS,
    )


async def notify(
    session: AsyncSession,
    *,
    user_id: str,
    kind: str,
    title: str,
    body: str,
    data: dict[str, Any],
) -> None:
    """Record a notification for ``user_id`` and queue its deliveries (e-mail,
    webhooks) in the caller's transaction; never commits, never blocks on the
    network. ``kind``: a stable identifier such as ``quota.warning`` or
    ``share.image``."""
    row = (
        await session.execute(
            select(User.email, NotificationPreference.email)
            .outerjoin(NotificationPreference, NotificationPreference.user_id == User.id)
            # A deleted account's tombstone has nobody behind it to tell.
            .where(User.id == user_id, User.deleted_at.is_(None))
        )
    ).one_or_none()
    if row is None:
        return  # the user is gone (or going, in this transaction): nobody to tell
    address, email_on = row
    email = bool(address) and email_on is not False
    now = utcnow()
    note = Notification(
        id=new_id("ntf"),
        user_id=user_id,
        kind=kind[:64],
        title=title[:200],
        body=body,
        data=data,
        created_at=now,
    )
    # E-mail is queued whenever the user has an address and has not turned it
    # off; the job knows the settings and, without an SMTP server, only logs it.
    if email:
        note.email_status = "queued"
    session.add(note)
    await session.flush()  # the job and delivery rows point at it
    if email:
        queue.enqueue(
            session, EMAIL_JOB, {"notificationId": note.id}, max_attempts=EMAIL_MAX_ATTEMPTS
        )
    hooks = await session.scalars(select(Webhook).where(Webhook.user_id == user_id, Webhook.active))
    _queue_deliveries(session, note, [h for h in hooks if subscribed(h.kinds, kind)])
    await session.flush()


async def webhook_event(
    session: AsyncSession,
    *,
    user_id: str,
    kind: str,
    title: str,
    data: dict[str, Any],
) -> None:
    """Queue ``kind`` to the user's subscribed webhooks only, in the caller's
    transaction: no in-app notification and no e-mail (image events come by
    the thousand; a person's inbox would drown in them). Writes nothing when
    no active webhook of the user subscribes to ``kind``.

    Never flushes: the caller's commit writes the event with the change it
    tells about, so a failing event cannot strand a half-done step (an
    upload's stored blob, say) before the caller's own failure handling."""
    with session.no_autoflush:
        hooks = [
            h
            for h in await session.scalars(
                select(Webhook).where(Webhook.user_id == user_id, Webhook.active)
            )
            if subscribed(h.kinds, kind)
        ]
    if not hooks:
        return
    note = Notification(
        id=new_id("ntf"),
        user_id=user_id,
        kind=kind[:64],
        title=title[:200],
        body="",
        data=data,
        created_at=utcnow(),
        in_app=False,
    )
    session.add(note)
    _queue_deliveries(session, note, hooks)


def _queue_deliveries(session: AsyncSession, note: Notification, hooks: list[Webhook]) -> None:
    """One delivery (and its first attempt's job) per webhook, for ``note``."""
    now = note.created_at
    for hook in hooks:
        delivery = WebhookDelivery(
            id=new_id("whd"),
            webhook_id=hook.id,
            notification_id=note.id,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        session.add(delivery)
        # `attempt` makes a job that runs twice (crash after its commit) a no-op.
        # max_attempts covers only crashes and database errors: failed HTTP
        # attempts are retried by the handler with its own schedule.
        queue.enqueue(session, WEBHOOK_JOB, {"deliveryId": delivery.id, "attempt": 1})


def queue_account_email(session: AsyncSession, payload: dict[str, Any]) -> None:
    """Queue an account e-mail (password reset, address verification) in the
    caller's transaction. Not an in-app notification: it carries a one-time
    token, which is for the mailbox only."""
    queue.enqueue(session, ACCOUNT_EMAIL_JOB, payload, max_attempts=EMAIL_MAX_ATTEMPTS)


# --- the in-app list -----------------------------------------------------------------


async def list_for(
    session: AsyncSession, user_id: str, *, unread: bool, limit: int, cursor: str | None
) -> tuple[list[Notification], str | None]:
    """Newest first, keyset-paged on (created_at, id)."""
    query = select(Notification).where(Notification.user_id == user_id, Notification.in_app)
    if unread:
        query = query.where(Notification.read_at.is_(None))
    if cursor is not None:
        at, note_id = cursors.decode(cursor)
        query = query.where(
            (Notification.created_at < at)
            | ((Notification.created_at == at) & (Notification.id < note_id))
        )
    rows = list(
        await session.scalars(
            query.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit + 1)
        )
    )
    following = None
    if len(rows) > limit:
        rows = rows[:limit]
        following = cursors.encode(rows[-1].created_at, rows[-1].id)
    return rows, following


async def unread_count(session: AsyncSession, user_id: str) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(
            Notification.user_id == user_id,
            Notification.in_app,
            Notification.read_at.is_(None),
        )
    )
    return int(count or 0)


async def mark_read(session: AsyncSession, user_id: str, notification_id: str) -> Notification:
    note = await session.get(Notification, notification_id)
    if note is None or note.user_id != user_id or not note.in_app:
        raise NotFound("No such notification.")
    if note.read_at is None:
        note.read_at = utcnow()
        await session.flush()
    return note


async def mark_all_read(session: AsyncSession, user_id: str) -> int:
    result = await session.execute(
        update(Notification)
        .where(
            Notification.user_id == user_id,
            Notification.in_app,
            Notification.read_at.is_(None),
        )
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0))


# --- preferences -----------------------------------------------------------------------


async def preferences(session: AsyncSession, user_id: str) -> bool:
    """Whether the user gets e-mail (the default when they never chose)."""
    chosen = await session.scalar(
        select(NotificationPreference.email).where(NotificationPreference.user_id == user_id)
    )
    return chosen is not False


async def set_preferences(session: AsyncSession, user_id: str, *, email: bool) -> bool:
    row = await session.get(NotificationPreference, user_id)
    if row is None:
        row = NotificationPreference(user_id=user_id)
        session.add(row)
    row.email = email
    row.updated_at = utcnow()
    await session.flush()
    return row.email
