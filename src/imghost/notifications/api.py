"""Routes: the in-app notification list and the caller's webhooks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from imghost.deps import Ctx, CurrentActor, Db
from imghost.notifications import services, webhooks
from imghost.notifications.models import Notification, Webhook
from imghost.notifications.schemas import (
    AttemptOut,
    DeliveryList,
    DeliveryOut,
    MarkedRead,
    NotificationList,
    NotificationOut,
    PreferencesOut,
    PreferencesPatch,
    UnreadCount,
    WebhookCreated,
    WebhookIn,
    WebhookList,
    WebhookOut,
    WebhookPatch,
)

router = APIRouter(tags=["notifications"])

Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=500, description="`next` of the previous page")]


def _note(row: Notification) -> NotificationOut:
    return NotificationOut(
        notification_id=row.id,
        kind=row.kind,
        title=row.title,
        body=row.body,
        data=row.data,
        read=row.read_at is not None,
        read_at=row.read_at,
        created_at=row.created_at,
    )


def _hook(row: Webhook) -> WebhookOut:
    return WebhookOut(
        webhook_id=row.id,
        url=row.url,
        kinds=row.kinds,
        description=row.description,
        active=row.active,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


@router.get("/v1/notifications", response_model=NotificationList)
async def list_notifications(
    actor: CurrentActor,
    db: Db,
    unread: bool = False,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> NotificationList:
    """Your notifications, newest first; `unread=true` for the unread ones only."""
    rows, following = await services.list_for(
        db, actor.user_id, unread=unread, limit=limit, cursor=cursor
    )
    count = await services.unread_count(db, actor.user_id)
    return NotificationList(
        notifications=[_note(r) for r in rows], unread_count=count, next=following
    )


@router.get("/v1/notifications/unread-count", response_model=UnreadCount)
async def unread_count(actor: CurrentActor, db: Db) -> UnreadCount:
    return UnreadCount(unread_count=await services.unread_count(db, actor.user_id))


@router.get("/v1/notifications/preferences", response_model=PreferencesOut)
async def get_preferences(actor: CurrentActor, db: Db) -> PreferencesOut:
    return PreferencesOut(email=await services.preferences(db, actor.user_id))


@router.patch("/v1/notifications/preferences", response_model=PreferencesOut)
async def patch_preferences(body: PreferencesPatch, actor: CurrentActor, db: Db) -> PreferencesOut:
    """`email: false` stops e-mail for notifications made from now on; the
    in-app list and webhooks are not affected."""
    email = await services.set_preferences(db, actor.user_id, email=body.email)
    await db.commit()
    return PreferencesOut(email=email)


@router.post("/v1/notifications/read-all", response_model=MarkedRead)
async def read_all(actor: CurrentActor, db: Db) -> MarkedRead:
    marked = await services.mark_all_read(db, actor.user_id)
    await db.commit()
    return MarkedRead(marked=marked, unread_count=await services.unread_count(db, actor.user_id))


@router.post("/v1/notifications/{notification_id}/read", response_model=NotificationOut)
async def read_one(notification_id: str, actor: CurrentActor, db: Db) -> NotificationOut:
    row = await services.mark_read(db, actor.user_id, notification_id)
    await db.commit()
    return _note(row)


# --- webhooks --------------------------------------------------------------------------


@router.post("/v1/webhooks", response_model=WebhookCreated, status_code=201)
async def create_webhook(body: WebhookIn, actor: CurrentActor, db: Db, ctx: Ctx) -> WebhookCreated:
    """Your notifications, POSTed as signed JSON to `url`. The `secret` that
    signs them is in this answer only."""
    row = await webhooks.create(
        db,
        actor.user_id,
        url=body.url,
        kinds=body.kinds,
        description=body.description,
        allow_private=ctx.settings.webhook_allow_private,
    )
    await db.commit()
    return WebhookCreated(**_hook(row).model_dump(), secret=row.secret)


@router.get("/v1/webhooks", response_model=WebhookList)
async def list_webhooks(actor: CurrentActor, db: Db) -> WebhookList:
    return WebhookList(webhooks=[_hook(r) for r in await webhooks.list_for(db, actor.user_id)])


@router.get("/v1/webhooks/{webhook_id}", response_model=WebhookOut)
async def get_webhook(webhook_id: str, actor: CurrentActor, db: Db) -> WebhookOut:
    return _hook(await webhooks.get(db, actor.user_id, webhook_id))


@router.patch("/v1/webhooks/{webhook_id}", response_model=WebhookOut)
async def patch_webhook(
    webhook_id: str, body: WebhookPatch, actor: CurrentActor, db: Db, ctx: Ctx
) -> WebhookOut:
    row = await webhooks.update(
        db,
        actor.user_id,
        webhook_id,
        fields=body.model_fields_set,
        url=body.url,
        kinds=body.kinds,
        description=body.description,
        active=body.active,
        allow_private=ctx.settings.webhook_allow_private,
    )
    await db.commit()
    return _hook(row)


@router.delete("/v1/webhooks/{webhook_id}", status_code=204)
async def delete_webhook(webhook_id: str, actor: CurrentActor, db: Db) -> Response:
    await webhooks.delete(db, actor.user_id, webhook_id)
    await db.commit()
    return Response(status_code=204)


@router.get("/v1/webhooks/{webhook_id}/deliveries", response_model=DeliveryList)
async def list_deliveries(
    webhook_id: str, actor: CurrentActor, db: Db, limit: Limit = 20, cursor: Cursor = None
) -> DeliveryList:
    """The delivery log, newest first: each delivery with every attempt made."""
    rows, following = await webhooks.deliveries(
        db, actor.user_id, webhook_id, limit=limit, cursor=cursor
    )
    return DeliveryList(
        deliveries=[
            DeliveryOut(
                delivery_id=d.id,
                notification_id=d.notification_id,
                kind=kind,
                status=d.status,
                attempt_count=d.attempts,
                next_attempt_at=d.next_attempt_at,
                last_status_code=d.last_status_code,
                last_error=d.last_error,
                created_at=d.created_at,
                finished_at=d.finished_at,
                attempts=[
                    AttemptOut(
                        attempt=a.attempt,
                        started_at=a.started_at,
                        duration_ms=a.duration_ms,
                        status_code=a.status_code,
                        error=a.error,
                        succeeded=a.succeeded,
                    )
                    for a in attempts
                ],
            )
            for d, kind, attempts in rows
        ],
        next=following,
    )
