"""Request and response shapes of notifications and webhooks."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from imghost.schemas import ApiModel, StrictInput, Timestamp


class NotificationOut(ApiModel):
    notification_id: str
    kind: str
    title: str
    body: str
    data: dict[str, Any]
    read: bool
    read_at: Timestamp | None
    created_at: Timestamp


class NotificationList(ApiModel):
    notifications: list[NotificationOut]
    unread_count: int
    # Pass as `cursor` for the following page; null on the last page.
    next: str | None


class UnreadCount(ApiModel):
    unread_count: int


class MarkedRead(ApiModel):
    marked: int
    unread_count: int


class PreferencesOut(ApiModel):
    email: bool


class PreferencesPatch(StrictInput):
    email: bool = Field(description="Send notifications by e-mail too (default true)")


class WebhookIn(StrictInput):
    url: str = Field(min_length=1, max_length=2048)
    kinds: list[str] = Field(
        default=["*"],
        min_length=1,
        max_length=20,
        description="Kinds to receive: exact (`share.image`), a prefix (`share.*`) or `*`",
    )
    description: str | None = Field(default=None, max_length=200)


class WebhookPatch(StrictInput):
    url: str | None = Field(default=None, min_length=1, max_length=2048)
    kinds: list[str] | None = Field(default=None, min_length=1, max_length=20)
    description: str | None = Field(default=None, max_length=200)
    active: bool | None = None


class WebhookOut(ApiModel):
    webhook_id: str
    url: str
    kinds: list[str]
    description: str | None
    active: bool
    created_at: Timestamp
    updated_at: Timestamp


class WebhookCreated(WebhookOut):
    # Shown only in the answer to the creation: keep it to verify signatures.
    secret: str


class WebhookList(ApiModel):
    webhooks: list[WebhookOut]


class AttemptOut(ApiModel):
    attempt: int
    started_at: Timestamp
    duration_ms: int
    status_code: int | None
    error: str | None
    succeeded: bool


class DeliveryOut(ApiModel):
    delivery_id: str
    notification_id: str
    kind: str
    status: str  # pending | succeeded | failed
    attempt_count: int
    next_attempt_at: Timestamp | None
    last_status_code: int | None
    last_error: str | None
    created_at: Timestamp
    finished_at: Timestamp | None
    attempts: list[AttemptOut]


class DeliveryList(ApiModel):
    deliveries: list[DeliveryOut]
    next: str | None
