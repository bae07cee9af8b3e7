"""Wire shapes of the usage report."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from imghost.schemas import ApiModel


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
