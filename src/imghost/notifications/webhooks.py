"""A user's webhooks: create, list, change, delete, and read the delivery log."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from imghost import cursors
from imghost.db import utcnow
from imghost.errors import AppError, NotFound
from imghost.ids import new_id
from imghost.notifications import addresses
from imghost.notifications.kinds import valid_pattern
from imghost.notifications.models import Notification, Webhook, WebhookAttempt, WebhookDelivery
from imghost.notifications.signing import new_secret

MAX_WEBHOOKS = 10


def _kinds(kinds: list[str]) -> list[str]:
    bad = [k for k in kinds if not valid_pattern(k)]
    if bad:
        raise AppError(
            422,
            "invalid_event_kind",
            f"{bad[0]!r} is not a kind: use a dotted name such as `share.image`, "
            "a prefix such as `share.*`, or `*` for every kind.",
        )
    return sorted(set(kinds))


async def create(
    session: AsyncSession,
    user_id: str,
    *,
    url: str,
    kinds: list[str],
    description: str | None,
    allow_private: bool,
) -> Webhook:
    chosen = _kinds(kinds)
    await addresses.check_for_api(url, allow_private)
    count = await session.scalar(
        select(func.count()).select_from(Webhook).where(Webhook.user_id == user_id)
    )
    if (count or 0) >= MAX_WEBHOOKS:
        raise AppError(
            409,
            "too_many_webhooks",
            f"You have {MAX_WEBHOOKS} webhooks, the most allowed; delete one first.",
        )
    now = utcnow()
    hook = Webhook(
        id=new_id("whk"),
        user_id=user_id,
        url=url,
        secret=new_secret(),
        kinds=chosen,
        description=description,
        active=True,
        created_at=now,
        updated_at=now,
    )
    session.add(hook)
    await session.flush()
    return hook


async def get(session: AsyncSession, user_id: str, webhook_id: str) -> Webhook:
    hook = await session.get(Webhook, webhook_id)
    if hook is None or hook.user_id != user_id:
        raise NotFound("No such webhook.")
    return hook


async def list_for(session: AsyncSession, user_id: str) -> list[Webhook]:
    rows = await session.scalars(
        select(Webhook).where(Webhook.user_id == user_id).order_by(Webhook.created_at, Webhook.id)
    )
    return list(rows)


async def update(
    session: AsyncSession,
    user_id: str,
    webhook_id: str,
    *,
    fields: set[str],
    url: str | None,
    kinds: list[str] | None,
    description: str | None,
    active: bool | None,
    allow_private: bool,
) -> Webhook:
    hook = await get(session, user_id, webhook_id)
    if "url" in fields and url is not None:
        await addresses.check_for_api(url, allow_private)
        hook.url = url
    if "kinds" in fields and kinds is not None:
        hook.kinds = _kinds(kinds)
    if "description" in fields:
        hook.description = description
    if "active" in fields and active is not None:
        hook.active = active
    hook.updated_at = utcnow()
    await session.flush()
    return hook


async def delete(session: AsyncSession, user_id: str, webhook_id: str) -> None:
    """Its deliveries go with it; their queued jobs find nothing and stop."""
    hook = await get(session, user_id, webhook_id)
    await session.delete(hook)
    await session.flush()


# --- the delivery log -------------------------------------------------------------------


async def deliveries(
    session: AsyncSession, user_id: str, webhook_id: str, *, limit: int, cursor: str | None
) -> tuple[list[tuple[WebhookDelivery, str, list[WebhookAttempt]]], str | None]:
    """Newest first: each delivery with its notification's kind and its attempts."""
    await get(session, user_id, webhook_id)
    query = (
        select(WebhookDelivery, Notification.kind)
        .join(Notification, Notification.id == WebhookDelivery.notification_id)
        .where(WebhookDelivery.webhook_id == webhook_id)
    )
    if cursor is not None:
        at, delivery_id = cursors.decode(cursor)
        query = query.where(
            (WebhookDelivery.created_at < at)
            | ((WebhookDelivery.created_at == at) & (WebhookDelivery.id < delivery_id))
        )
    rows = (
        await session.execute(
            query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc()).limit(
                limit + 1
            )
        )
    ).all()
    following = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1][0]
        following = cursors.encode(last.created_at, last.id)
    ids = [d.id for d, _ in rows]
    attempts: dict[str, list[WebhookAttempt]] = {i: [] for i in ids}
    if ids:
        for attempt in await session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(ids))
            .order_by(WebhookAttempt.delivery_id, WebhookAttempt.attempt)
        ):
            attempts[attempt.delivery_id].append(attempt)
    # Read committed: an attempt recorded between the two queries would show
    # beside a delivery row from before it; show the attempts the row counts.
    return [
        (d, kind, [a for a in attempts[d.id] if a.attempt <= d.attempts]) for d, kind in rows
    ], following
