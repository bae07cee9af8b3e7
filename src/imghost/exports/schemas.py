from __future__ import annotations

from typing import Literal

from imghost.schemas import ApiModel, Timestamp


class ExportOut(ApiModel):
    export_id: str
    # pending: the job is making it; ready: downloadable until expiresAt;
    # failed: the job gave up (start another); expired: removed.
    status: Literal["pending", "ready", "failed", "expired"]
    created_at: Timestamp
    ready_at: Timestamp | None = None
    expires_at: Timestamp | None = None
    # Bytes of the ZIP and the originals in it, once ready.
    size: int | None = None
    images: int | None = None
    # While ready: a signed link to the ZIP that works without signing in,
    # minted afresh on each read, until download_url_expires_at (never past
    # expires_at). Signed in, GET /v1/users/me/export/download works too.
    download_url: str | None = None
    download_url_expires_at: Timestamp | None = None
    error: str | None = None
