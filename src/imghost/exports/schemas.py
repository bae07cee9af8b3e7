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
    # Authenticated GET of the ZIP, while ready.
    download_url: str | None = None
    error: str | None = None
