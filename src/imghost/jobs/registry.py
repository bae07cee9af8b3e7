"""Which handler runs which kind of job (jobs/ composes the features)."""

from __future__ import annotations

from imghost.jobs.worker import DeadHandler, Handler
from imghost.notifications import tasks as notification_tasks
from imghost.notifications.service import EMAIL_JOB, INVITATION_EMAIL_JOB, WEBHOOK_JOB
from imghost.processing.tasks import process_image, process_image_dead


def handlers() -> dict[str, Handler]:
    return {
        "process_image": process_image,
        EMAIL_JOB: notification_tasks.send_email,
        INVITATION_EMAIL_JOB: notification_tasks.send_invitation_email,
        WEBHOOK_JOB: notification_tasks.deliver_webhook,
    }


def dead_handlers() -> dict[str, DeadHandler]:
    return {
        "process_image": process_image_dead,
        EMAIL_JOB: notification_tasks.send_email_dead,
        WEBHOOK_JOB: notification_tasks.deliver_webhook_dead,
    }
