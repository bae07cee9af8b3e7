from __future__ import annotations

from typing import Any, Literal

from imghost.images.fields import Description, Tags, Title
from imghost.images.models import Image
from imghost.images.policy import failure_sentence
from imghost.schemas import ApiModel, StrictInput, Timestamp, Visibility


def image_url(base_url: str, image_id: str) -> str:
    return f"{base_url}/images/{image_id}"


def thumbnail_url(base_url: str, image: Image) -> str | None:
    # Before the worker made it, thumb.jpg is rendered on first request.
    if image.status in ("processing", "ready"):
        return f"{base_url}/images/{image.id}/thumb.jpg"
    return None


class ProcessingOut(ApiModel):
    """Where processing stands, and for a failed or quarantined image which
    step failed and how (docs/API.md lists the steps and codes)."""

    status: str  # the image's status: processing | ready | failed | quarantined | damaged
    step: str | None = None
    code: str | None = None
    detail: str | None = None

    @classmethod
    def of(cls, image: Image) -> ProcessingOut:
        if image.status == "quarantined" and image.scan_status != "refused":
            # A moderator quarantined it (``images.moderation``), not the scan.
            return cls(
                status=image.status,
                step="moderation",
                code="quarantined_by_admin",
                detail=image.status_reason,
            )
        if image.status == "quarantined":
            return cls(
                status=image.status,
                step="scan",
                # An operator's hash list matched; the malware scanner matched a
                # signature; else the structural scan (or a file too large for
                # the malware scanner) refused it.
                code=(
                    "hash_list_match"
                    if image.hash_match
                    else "malware_found"
                    if image.malware_signature
                    else "scan_refused"
                ),
                detail=image.scan_reason or image.status_reason,
            )
        if image.status == "damaged":
            # The scrub found the original missing or corrupt (images.damage).
            return cls(
                status=image.status, step="scrub", code="damaged", detail=image.status_reason
            )
        if image.status == "failed":
            code = image.failed_code or "error"
            detail = failure_sentence(image.failed_step, code)
            return cls(status=image.status, step=image.failed_step, code=code, detail=detail)
        return cls(status=image.status)


def shown_reason(image: Image, owner_view: bool) -> str | None:
    """``statusReason``: the raw reason for owner-level callers; for others
    (who see a failed image whose scan passed) the sentence of ``processing``."""
    if owner_view or image.status != "failed":
        return image.status_reason
    return failure_sentence(image.failed_step, image.failed_code)


class MalwareScanOut(ApiModel):
    """The malware scanner's (ClamAV's) verdict: ``clean``, ``infected`` (with
    the ``signature``), or ``unscanned`` (clamd was unreachable and the install
    lets images through then); ``scannedAt``: when clamd last answered."""

    status: str
    signature: str | None = None
    scanned_at: Timestamp | None = None

    @classmethod
    def of(cls, image: Image) -> MalwareScanOut | None:
        if image.malware_scan is None:
            return None  # no malware scanner consulted (none configured)
        return cls(
            status=image.malware_scan,
            signature=image.malware_signature,
            scanned_at=image.malware_scanned_at,
        )


class ImageOut(ApiModel):
    image_id: str
    owner_id: str
    # Set when the image belongs to an organization's namespace (owner = uploader).
    org_id: str | None = None
    title: str | None
    description: str | None
    tags: list[str]
    size: int
    format: str
    mime_type: str
    width: int
    height: int
    visibility: Visibility
    status: str
    status_reason: str | None = None
    # The content scan's verdict, apart from processing: pending | passed | refused.
    scan_status: str
    # The malware scanner's part of that verdict; null when none is configured.
    malware_scan: MalwareScanOut | None = None
    processing: ProcessingOut
    # Why the image is withheld from everyone but admins: takedown | suspended.
    # Only its owner (in their listings) and admins ever see a withheld image.
    withheld: str | None = None
    url: str
    thumbnail_url: str | None
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, image: Image, base_url: str, owner_view: bool = True) -> ImageOut:
        """``owner_view``: the caller holds owner level (listings show others
        only ready images, whose reason is null anyway)."""
        return cls(
            image_id=image.id,
            owner_id=image.owner_id,
            org_id=image.org_id,
            title=image.title,
            description=image.description,
            tags=image.tags,
            size=image.size,
            format=image.format,
            mime_type=image.mime_type,
            width=image.width,
            height=image.height,
            visibility=image.visibility,
            status=image.status,
            status_reason=shown_reason(image, owner_view),
            scan_status=image.scan_status or "pending",  # unsaved rows: the default
            malware_scan=MalwareScanOut.of(image),
            processing=ProcessingOut.of(image),
            withheld=image.withheld,
            url=image_url(base_url, image.id),
            thumbnail_url=thumbnail_url(base_url, image),
            created_at=image.created_at,
            updated_at=image.updated_at,
        )


class VersionOut(ApiModel):
    """One stored version a caller may fetch: enough to build ``srcset``."""

    kind: str  # original | preset
    name: str  # "original", or the preset's name (thumb, small, medium, large)
    format: str
    width: int
    height: int
    size: int  # bytes
    url: str


class ImageDetailOut(ImageOut):
    """``GET /v1/images/{id}``: the image with its versions (listings stay light)."""

    versions: list[VersionOut]


class ImagePatch(StrictInput):
    title: Title | None = None
    description: Description | None = None
    tags: Tags | None = None
    visibility: Visibility | None = None


class ImageDeleted(ApiModel):
    image_id: str
    # The design's field. Always "deleted" (a purge too: `purged` says the
    # bytes are gone); `deleted` stays for the clients written before it.
    status: Literal["deleted"] = "deleted"
    deleted: bool = True
    deleted_at: Timestamp
    # End of the trash window: restorable until then, purged by the sweep after.
    purge_at: Timestamp
    # True once every byte and row is gone (DELETE ?permanent=true).
    purged: bool = False


class ImageFileFacts(ApiModel):
    size: int
    mime_type: str
    format: str
    width: int
    height: int
    frames: int
    checksum: str  # "sha256:<hex>"
    filename: str | None
    uploaded_at: Timestamp


class ImageMetadataOut(ApiModel):
    image_id: str
    owner_id: str
    title: str | None
    description: str | None
    tags: list[str]
    visibility: Visibility
    status: str
    status_reason: str | None = None
    scan_status: str
    processing: ProcessingOut
    file: ImageFileFacts
    # Extracted by the processing job (null until it ran): EXIF with readable
    # names, colour profile and mode, bit depth, alpha, animation, placeholder,
    # dominant colour. GPS is separate and present only when the owner opted in.
    metadata: dict[str, Any] | None = None
    gps: dict[str, Any] | None = None
    processed_at: Timestamp | None = None
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, image: Image, owner_view: bool = True) -> ImageMetadataOut:
        return cls(
            image_id=image.id,
            owner_id=image.owner_id,
            title=image.title,
            description=image.description,
            tags=image.tags,
            visibility=image.visibility,
            status=image.status,
            status_reason=shown_reason(image, owner_view),
            scan_status=image.scan_status or "pending",  # unsaved rows: the default
            processing=ProcessingOut.of(image),
            metadata=image.meta,
            gps=image.gps if image.keep_gps else None,
            processed_at=image.processed_at,
            file=ImageFileFacts(
                size=image.size,
                mime_type=image.mime_type,
                format=image.format,
                width=image.width,
                height=image.height,
                frames=image.frames,
                checksum=f"sha256:{image.sha256}",
                filename=image.filename,
                uploaded_at=image.created_at,
            ),
            created_at=image.created_at,
            updated_at=image.updated_at,
        )


class ImageList(ApiModel):
    images: list[ImageOut]
    page: int
    limit: int
    total: int


class BatchError(ApiModel):
    filename: str | None
    code: str
    detail: str


class BatchResult(ApiModel):
    images: list[ImageOut]
    errors: list[BatchError]
