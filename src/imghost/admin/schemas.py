"""Request and response bodies of the admin routes."""

from __future__ import annotations

from pydantic import Field

from imghost.schemas import ApiModel, StrictInput, Timestamp


class UsageOut(ApiModel):
    storage_bytes: int
    reserved_bytes: int
    quota_bytes: int
    # Set when an administrator gave the account its own quota (quotaBytes is it).
    quota_override_bytes: int | None
    images: int


class AdminUserOut(ApiModel):
    user_id: str
    username: str
    email: str
    plan: str
    is_admin: bool
    email_verified: bool
    created_at: Timestamp
    # Set for a deleted account's tombstone.
    deleted_at: Timestamp | None
    usage: UsageOut


class AdminUserList(ApiModel):
    users: list[AdminUserOut]


class AdminUserPatch(StrictInput):
    """Fields left out stay as they are; ``quotaOverrideBytes: null`` returns
    the account to its plan's quota."""

    plan: str | None = Field(default=None, max_length=16)
    quota_override_bytes: int | None = Field(default=None, ge=0, le=2**62)


class QueueOldest(ApiModel):
    kind: str
    due_at: Timestamp
    waiting_seconds: int


class ImagesOut(ApiModel):
    by_status: dict[str, int]
    deleted: int
    scan_refused: int


class StorageOut(ApiModel):
    accounts: int
    images: int
    originals_bytes: int
    derivatives_bytes: int
    reserved_bytes: int


class NearQuotaOut(ApiModel):
    user_id: str
    username: str
    plan: str
    used_bytes: int
    quota_bytes: int
    percent: float


class AdminStatusOut(ApiModel):
    generated_at: Timestamp
    queue: dict[str, dict[str, int]]
    oldest_due: QueueOldest | None
    dead_jobs: int
    dead_jobs_last_day: int
    images: ImagesOut
    storage: StorageOut
    nearest_quota: list[NearQuotaOut]
