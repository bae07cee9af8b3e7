from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from imghost.schemas import ApiModel, StrictInput, Visibility


class UploadIn(StrictInput):
    filename: str = Field(min_length=1, max_length=255)
    size: int = Field(gt=0)
    content_type: str = Field(max_length=100)
    checksum: str | None = Field(
        default=None,
        max_length=100,
        description="sha256:<hex> or plain hex SHA-256 of the bytes; checked at finalize",
    )


class UploadOut(ApiModel):
    upload_id: str
    presigned_url: str
    expires_in: int
    expires_at: dt.datetime
    method: Literal["PUT"] = "PUT"


class FinalizeIn(StrictInput):
    upload_id: str = Field(max_length=64)
    title: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    tags: list[str] = Field(default_factory=list, max_length=50)
    visibility: Visibility | None = None
    keep_gps: bool | None = Field(
        default=None, description="Keep GPS for this image (default: the account's keepGps)"
    )
