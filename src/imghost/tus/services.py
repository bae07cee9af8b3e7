"""tus uploads as rows: create, look up, metadata and length rules.

Services take a session and never commit. The write lease and the states it
moves an upload through are in ``tus.leases``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.access.grants import Caller, caller_of_actor
from imghost.accounts.models import User
from imghost.albums.uploads import album_field, album_namespace
from imghost.auth.services import Actor
from imghost.db import utcnow
from imghost.errors import AppError
from imghost.ids import new_id
from imghost.images.fields import NewImageFields, fields_from_text
from imghost.images.services import original_key
from imghost.schemas import unstorable
from imghost.settings import Settings
from imghost.uploads.models import Upload
from imghost.uploads.services import allow_duplicate_field, file_too_large


def fields_from_metadata(metadata: dict[str, str], actor: Actor) -> dict[str, Any]:
    """Image fields from Upload-Metadata, validated now rather than after the bytes."""
    for key, value in metadata.items():
        if unstorable(value):
            raise AppError(
                422, "validation_error", f"Upload-Metadata {key!r} contains a NUL character."
            )
    fields = fields_from_text(
        title=metadata.get("title"),
        description=metadata.get("description"),
        tags=[metadata.get("tags", "")],
        visibility=metadata.get("visibility"),
        keep_gps=metadata.get("keepGps"),
        default_visibility=actor.default_visibility,
        default_keep_gps=actor.keep_gps,
    )
    return {
        "title": fields.title,
        "description": fields.description,
        "tags": fields.tags,
        "visibility": fields.visibility,
        "keepGps": fields.keep_gps,
        "albumId": album_field(metadata.get("albumId")),
        "allowDuplicate": allow_duplicate_field(metadata.get("allowDuplicate")),
    }


def image_fields(upload: Upload) -> NewImageFields:
    stored = upload.fields or {}
    return NewImageFields(
        title=stored.get("title"),
        description=stored.get("description"),
        tags=list(stored.get("tags", [])),
        visibility=str(stored.get("visibility", "public")),
        keep_gps=bool(stored.get("keepGps", False)),
        album_id=stored.get("albumId"),
    )


def target_key(upload: Upload) -> str | None:
    """Where the upload's bytes will live as an image (None for a partial upload)."""
    if upload.reserved_image_id is None:
        return None
    return original_key(upload.owner_id, upload.reserved_image_id)


def check_length(length: int, settings: Settings) -> None:
    if length > settings.max_file_size:
        raise file_too_large(settings.max_file_size)


def set_length(upload: Upload, length: int, settings: Settings) -> None:
    """Upload-Length on a PATCH: sets a deferred length once, or repeats it."""
    if upload.size is not None:
        if upload.size != length:
            raise AppError(400, "invalid_header", "Upload-Length cannot change once it is set.")
        return
    if length < upload.offset:
        raise AppError(
            400, "invalid_header", "Upload-Length is smaller than the bytes already received."
        )
    check_length(length, settings)
    upload.size = length


def too_long(upload: Upload, settings: Settings) -> AppError:
    """The answer to a body that goes past the upload's length (or the size limit)."""
    if upload.size is None:
        return file_too_large(settings.max_file_size)
    return AppError(
        413,
        "upload_length_exceeded",
        f"More bytes were sent than the {upload.size} the upload declared.",
    )


def create(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    *,
    length: int | None,
    metadata: dict[str, str],
    concat: str | None = None,
    partials: list[str] | None = None,
) -> Upload:
    if length is not None:
        check_length(length, settings)
    upload_id = new_id("upl")
    now = utcnow()
    filename = (metadata.get("filename") or "upload").replace("\\", "/").rsplit("/", 1)[-1]
    upload = Upload(
        id=upload_id,
        owner_id=actor.user_id,
        kind="tus",
        filename=filename[:255] or "upload",
        size=length,
        content_type=(metadata.get("filetype") or "application/octet-stream")[:100],
        blob_key=f"tus/{upload_id}",
        status="pending",
        offset=0,
        fields=fields_from_metadata(metadata, actor),
        # The image id is reserved now so that, on S3, the bytes can be sent
        # straight to the original's key (no copy when the upload completes).
        reserved_image_id=None if concat == "partial" else new_id("img"),
        concat=concat,
        partials=partials,
        storage={},
        created_at=now,
        expires_at=now + dt.timedelta(seconds=settings.tus_expires),
    )
    session.add(upload)
    return upload


def not_found() -> AppError:
    return AppError(404, "upload_not_found", "No such upload. Start a new one with POST /v1/tus/.")


async def owned(session: AsyncSession, upload_id: str, actor: Actor) -> Upload:
    """The caller's tus upload, fresh from the database; 404 for anyone else's."""
    upload = await session.get(Upload, upload_id, populate_existing=True)
    if upload is None or upload.kind != "tus" or upload.owner_id != actor.user_id:
        raise not_found()
    return upload


async def check_album(session: AsyncSession, actor: Actor, upload: Upload) -> None:
    """An upload into an album needs upload permission on it, before any byte."""
    album_id = (upload.fields or {}).get("albumId")
    if album_id:
        await album_namespace(session, caller_of_actor(actor), album_id)


async def uploader(session: AsyncSession, upload: Upload) -> Caller:
    """The upload's owner as a caller, with their current rights."""
    user = await session.get(User, upload.owner_id)
    return Caller(upload.owner_id, bool(user and user.is_admin))


def check_open(upload: Upload) -> None:
    """404/410 for uploads that can no longer be read or written."""
    if upload.status == "terminated":
        raise not_found()
    if upload.status == "expired" or (upload.status == "pending" and upload.expires_at <= utcnow()):
        raise AppError(
            410, "upload_expired", "This upload has expired. Start a new one with POST /v1/tus/."
        )
    if upload.status == "failed":
        raise AppError(
            410,
            upload.error_code or "upload_failed",
            f"This upload's bytes were not accepted: {upload.error_detail}",
        )


async def mark_cleaned(session: AsyncSession, upload_ids: list[str], now: dt.datetime) -> None:
    """Record that the uploads' bytes are gone (flushed, not committed)."""
    await session.execute(
        update(Upload)
        .where(Upload.id.in_(upload_ids))
        .values(cleaned_at=now)
        .execution_options(synchronize_session=False)
    )
