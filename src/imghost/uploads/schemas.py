from __future__ import annotations

from typing import Literal

from pydantic import Field

from imghost.images.fields import Description, Tags, Title
from imghost.images.models import Image
from imghost.images.schemas import BatchError, ImageOut
from imghost.schemas import ApiModel, StrictInput, Timestamp, Visibility
from imghost.uploads.models import Upload


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
    expires_at: Timestamp
    method: Literal["PUT"] = "PUT"


class NewImageIn(StrictInput):
    """The fields of a new image, whichever way its bytes arrive (JSON bodies)."""

    title: Title | None = None
    description: Description | None = None
    tags: Tags = Field(default_factory=list)
    visibility: Visibility | None = None
    keep_gps: bool | None = Field(
        default=None, description="Keep GPS for this image (default: the account's keepGps)"
    )
    album_id: str | None = Field(
        default=None,
        max_length=40,
        description="Add the new image to this album (needs upload permission on it)",
    )
    allow_duplicate: bool = Field(
        default=False,
        description="Store a new image even if the owner has one with the same bytes "
        "(default: answer 200 with that image, duplicate: true)",
    )


class FinalizeIn(NewImageIn):
    """POST /v1/images as JSON with ``uploadId``: the presigned upload's bytes."""

    upload_id: str = Field(max_length=64)


class SourceUrlIn(NewImageIn):
    """POST /v1/images as JSON with ``sourceUrl``: the server fetches the file."""

    source_url: str = Field(min_length=1, max_length=2048, description="http(s) URL of the image")


class UploadedImage(ImageOut):
    """An upload's answer: the image, and whether it is the owner's existing copy."""

    duplicate: bool = Field(
        default=False,
        description="true: the owner already had these bytes; this is that image "
        "(answered 200, nothing stored)",
    )

    @classmethod
    def of_image(cls, image: Image, base_url: str, *, duplicate: bool) -> UploadedImage:
        return cls.model_validate(
            {**ImageOut.of(image, base_url).model_dump(), "duplicate": duplicate}
        )


class UploadBatch(ApiModel):
    """A multipart upload of several files: the images, and the files refused."""

    images: list[UploadedImage]
    errors: list[BatchError]


class UploadError(ApiModel):
    code: str
    detail: str


class UploadStatus(ApiModel):
    upload_id: str
    kind: Literal["presigned", "tus"]
    status: str = Field(
        description="pending, completed, failed, uploaded (a tus partial), concatenated, "
        "terminated or expired"
    )
    offset: int = Field(description="Bytes received and kept so far")
    length: int | None = Field(description="Declared size (null while a tus upload defers it)")
    image_id: str | None = None
    duplicate: bool = Field(
        default=False,
        description="true: the owner already had these bytes; imageId is that image and "
        "nothing was stored",
    )
    error: UploadError | None = None
    expires_at: Timestamp

    @classmethod
    def of(cls, upload: Upload) -> UploadStatus:
        offset = upload.offset
        if upload.kind == "presigned" and upload.status == "completed":
            offset = upload.size or 0
        error = None
        if upload.error_code:
            error = UploadError(code=upload.error_code, detail=upload.error_detail or "")
        return cls(
            upload_id=upload.id,
            kind="tus" if upload.kind == "tus" else "presigned",
            status=upload.status,
            offset=offset,
            length=upload.size,
            image_id=upload.image_id,
            duplicate=bool((upload.fields or {}).get("duplicate")),
            error=error,
            expires_at=upload.expires_at,
        )
