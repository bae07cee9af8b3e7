"""Response shapes of the audit log's reads."""

from __future__ import annotations

from typing import Any

from imghost.schemas import ApiModel, Timestamp


class AuditTarget(ApiModel):
    type: str
    id: str


class AuditEventOut(ApiModel):
    # The event's place in the chain (ascending with time).
    event_id: int
    at: Timestamp
    kind: str
    actor_id: str | None
    actor_kind: str
    # Null once scrubbed (IMGHOST_AUDIT_PII_RETENTION_DAYS), and in a user's own
    # log for events someone else caused.
    address: str | None
    user_agent: str | None
    target: AuditTarget | None
    details: dict[str, Any]


class AuditEventList(ApiModel):
    events: list[AuditEventOut]
    # Pass as `cursor` for the following (older) page; null on the last page.
    next: str | None
