"""Wire shapes of the usage report."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from imghost.schemas import ApiModel, Timestamp


class MonthlyBandwidthOut(ApiModel):
    month: str = Field(description="The calendar month (UTC) counted, YYYY-MM")
    used_bytes: int = Field(
        description="Bytes of the account's images served this month (its own views included)"
    )
    limit_bytes: int | None = Field(description="The plan's monthly budget; null: unlimited")
    percent_used: float | None = Field(
        description="usedBytes / limitBytes × 100, one decimal; null: unlimited"
    )
    exceeded: bool = Field(
        description="The budget is used up: others get 429 bandwidth_exceeded until resetsAt"
    )
    resets_at: Timestamp = Field(description="When the next month's budget starts (UTC)")


class UsageOut(ApiModel):
    account_id: str = Field(description="The user's or org's id")
    account_kind: Literal["user", "org"]
    plan: str = Field(description="free or premium")
    storage_bytes: int = Field(description="originalsBytes + derivativesBytes")
    originals_bytes: int = Field(description="Uploaded files, soft-deleted ones until purged")
    derivatives_bytes: int = Field(
        description="Presets, cached transforms and GPS-free copies made from the originals"
    )
    reserved_bytes: int = Field(description="Declared sizes of uploads in progress")
    quota_bytes: int
    percent_used: float = Field(description="storageBytes / quotaBytes × 100, one decimal")
    images: int = Field(description="Images counted (soft-deleted ones until purged)")
    bandwidth_bytes30d: int = Field(
        alias="bandwidthBytes30d",
        description="Bytes of these images served in the last 30 UTC days (today included)",
    )
    bandwidth: MonthlyBandwidthOut = Field(
        description="This month's bandwidth budget: the account's images (an org's for an org)"
    )
