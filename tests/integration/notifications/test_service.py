"""`notify` itself on both databases: in the caller's transaction, never on its own."""

from __future__ import annotations

from typing import Any

import anyio
from sqlalchemy import func, select

from imghost.accounts.models import User
from imghost.context import AppContext
from imghost.db import utcnow
from imghost.jobs.models import Job
from imghost.notifications.models import Notification, Webhook, WebhookDelivery
from imghost.notifications.services import EMAIL_JOB, WEBHOOK_JOB, notify
from imghost.settings import Settings


async def _user(ctx: AppContext, name: str) -> str:
    async with ctx.sessions() as s:
        s.add(User(id=f"u_{name}", username=name, email=f"{name}@example.com", password_hash="x"))
        await s.commit()
    return f"u_{name}"


async def _count(ctx: AppContext, model: Any, *where: Any) -> int:
    async with ctx.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_notify_follows_the_callers_transaction(settings: Settings) -> None:
    async def main() -> None:
        ctx = AppContext.build(settings)
        try:
            ann = await _user(ctx, "ann")
            now = utcnow()
            async with ctx.sessions() as s:
                for hook_id, kinds, active in [
                    ("whk_all", ["*"], True),
                    ("whk_quota", ["quota.*"], True),
                    ("whk_off", ["*"], False),
                ]:
                    s.add(
                        Webhook(
                            id=hook_id,
                            user_id=ann,
                            url="http://127.0.0.1:9/",
                            secret="whsec_x",
                            kinds=kinds,
                            active=active,
                            created_at=now,
                            updated_at=now,
                        )
                    )
                await s.commit()

            async with ctx.sessions() as s:  # rolled back: nothing at all
                await notify(s, user_id=ann, kind="share.image", title="t", body="b", data={})
                await s.rollback()
            assert await _count(ctx, Notification) == 0
            assert await _count(ctx, Job) == 0

            async with ctx.sessions() as s:
                await notify(
                    s, user_id=ann, kind="share.image", title="t" * 300, body="b", data={"a": 1}
                )
                await s.commit()
            async with ctx.sessions() as s:
                note = await s.scalar(select(Notification))
                assert note is not None and note.kind == "share.image"
                assert len(note.title) == 200 and note.data == {"a": 1}
                assert note.email_status == "queued" and note.read_at is None
                deliveries = list(await s.scalars(select(WebhookDelivery)))
                assert [d.webhook_id for d in deliveries] == ["whk_all"]  # subscribed, active
                assert deliveries[0].status == "pending" and deliveries[0].attempts == 0
                jobs = sorted((j.kind, j.payload) for j in await s.scalars(select(Job)))
                assert jobs == [
                    (EMAIL_JOB, {"notificationId": note.id}),
                    (WEBHOOK_JOB, {"attempt": 1, "deliveryId": deliveries[0].id}),
                ]

            async with ctx.sessions() as s:  # nobody to tell: a no-op
                await notify(s, user_id="u_gone", kind="share.image", title="t", body="", data={})
                await s.commit()
            assert await _count(ctx, Notification) == 1
        finally:
            await ctx.close()

    anyio.run(main)


def test_jobs_are_idempotent_and_dead_jobs_settle(settings: Settings) -> None:
    from imghost.notifications import tasks
    from tests.integration.notifications.receivers import WebhookReceiver

    async def main(receiver: WebhookReceiver) -> None:
        ctx = AppContext.build(settings)
        try:
            ann = await _user(ctx, "ann")
            now = utcnow()
            async with ctx.sessions() as s:
                s.add(
                    Webhook(
                        id="whk_1",
                        user_id=ann,
                        url=receiver.url,
                        secret="whsec_x",
                        kinds=["*"],
                        active=True,
                        created_at=now,
                        updated_at=now,
                    )
                )
                await s.commit()
            for _ in range(2):
                async with ctx.sessions() as s:
                    await notify(s, user_id=ann, kind="share.image", title="t", body="", data={})
                    await s.commit()
            async with ctx.sessions() as s:
                first, second = [
                    d.id for d in await s.scalars(select(WebhookDelivery).order_by("id"))
                ]
                note_ids = list(await s.scalars(select(Notification.id)))

            # The same attempt twice (a job rerun after a crash): one request.
            payload = {"deliveryId": first, "attempt": 1}
            await tasks.deliver_webhook(ctx.notifications, payload)
            await tasks.deliver_webhook(ctx.notifications, payload)
            assert len(receiver.requests) == 1
            async with ctx.sessions() as s:
                delivery = await s.get(WebhookDelivery, first)
                assert delivery is not None and delivery.status == "succeeded"

            # A job that kept crashing: its dead hook fails the delivery.
            await tasks.deliver_webhook_dead(ctx.notifications, {"deliveryId": second}, "boom")
            async with ctx.sessions() as s:
                delivery = await s.get(WebhookDelivery, second)
                assert delivery is not None and delivery.status == "failed"
                assert delivery.last_error == "boom" and delivery.finished_at is not None
            await tasks.deliver_webhook(ctx.notifications, {"deliveryId": second, "attempt": 1})
            assert len(receiver.requests) == 1  # a failed delivery is not sent

            # E-mail: without SMTP the job settles `skipped`, and a rerun does nothing;
            # a dead e-mail job marks it `failed`.
            no_smtp = AppContext.build(Settings(**{**_fields(settings), "smtp_url": ""}))
            try:
                await tasks.send_email(no_smtp.notifications, {"notificationId": note_ids[0]})
            finally:
                await no_smtp.close()
            await tasks.send_email_dead(ctx.notifications, {"notificationId": note_ids[1]}, "boom")
            async with ctx.sessions() as s:
                statuses = {n.id: n.email_status for n in await s.scalars(select(Notification))}
            assert statuses == {note_ids[0]: "skipped", note_ids[1]: "failed"}
        finally:
            await ctx.close()

    with WebhookReceiver() as receiver:
        anyio.run(main, receiver)


def _fields(settings: Settings) -> dict[str, Any]:
    return {k: getattr(settings, k) for k in settings.__dataclass_fields__}
