"""Turning received bytes into images: validation, storage, presigned uploads.

Consistency between blob and row: the blob is written first and the row is
committed after it, so a row never points at a missing blob. If the commit
fails, the caller deletes the blob at once (:func:`discard_blob`); if the
process dies in between, ``imghost gc`` removes the unreferenced blob later.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.albums.uploads import file_in_album
from imghost.db import utcnow
from imghost.errors import AppError
from imghost.ids import new_id
from imghost.images.fields import NewImageFields
from imghost.images.models import Image
from imghost.images.services import announce, build_image
from imghost.imaging.probe import ProbeError, ProbeResult
from imghost.jobs import queue
from imghost.processing.pool import PixelWorkerDied
from imghost.quotas import services as quotas
from imghost.settings import Settings
from imghost.storage import BlobStore
from imghost.units import human_bytes
from imghost.uploads.duplicates import allow_duplicate_field as allow_duplicate_field
from imghost.uploads.duplicates import find_duplicate as find_duplicate
from imghost.uploads.models import Upload
from imghost.uploads.signing import sign_upload
from imghost.uploads.spool import Received, Spool
from imghost.uploads.validation import run_validation

log = logging.getLogger(__name__)


async def validate_image(path: Path, settings: Settings, owner_id: str) -> ProbeResult:
    """Probe a spooled file off the event loop; bad bytes become a 4xx AppError.

    Bounded by the frame, pixel and time limits, fair between users, and
    stopped if the client goes away (see :mod:`imghost.uploads.validation`)."""
    try:
        return await run_validation(path, settings, owner_id)
    except ProbeError as exc:
        raise AppError(exc.status, exc.code, exc.detail) from exc
    except (MemoryError, PixelWorkerDied) as exc:  # the pool process hit its memory limit
        raise AppError(
            503,
            "insufficient_memory",
            "The server does not have the memory to check this image right now; try again later.",
            headers={"Retry-After": "30"},
        ) from exc


def file_too_large(limit: int) -> AppError:
    return AppError(
        413,
        "file_too_large",
        f"The file is larger than the {human_bytes(limit)} limit.",
        limit=limit,
    )


async def store_new_image(
    session: AsyncSession,
    store: BlobStore,
    settings: Settings,
    owner_id: str,
    fields: NewImageFields,
    spool: Received,
    filename: str | None,
) -> Image:
    """Validate a spooled file, put it in the blob store, add its row (not committed)."""
    image = await check_new_image(settings, owner_id, fields, spool, filename)
    await store.put_file(image.blob_key, spool.path, image.mime_type)
    add_new_image(session, image, settings, fields.album_id)
    return image


async def check_new_image(
    settings: Settings,
    owner_id: str,
    fields: NewImageFields,
    spool: Received,
    filename: str | None,
    image_id: str | None = None,
) -> Image:
    """Validate a spooled file and build its row; neither stored nor added yet."""
    if spool.size == 0:
        raise AppError(422, "invalid_image", "The file is empty.")
    probed = await validate_image(spool.path, settings, owner_id)
    name = _clean_name(filename)
    return build_image(owner_id, fields, probed, spool.size, spool.sha256, name, image_id)


async def announce_upload(session: AsyncSession, image: Image) -> None:
    """``image.uploaded`` to the uploader's webhooks, in the commit that adds the image."""
    await announce(session, image, "image.uploaded")


def add_new_image(
    session: AsyncSession, image: Image, settings: Settings, album_id: str | None = None
) -> None:
    """Add a stored image's row, its processing job and its album entry to the session."""
    # Not flushed here: the caller's commit writes the row and its processing
    # job together (outbox), and deletes the blob again if that fails (see
    # discarding_on_failure).
    session.add(image)
    enqueue_processing(session, image, settings.job_max_attempts)
    if album_id is not None:
        file_in_album(session, album_id, image.id, image.owner_id)


@asynccontextmanager
async def discarding_on_failure(
    session: AsyncSession, store: BlobStore, blob_key: str
) -> AsyncIterator[None]:
    """Around the caller's commit of a new image's row: if it fails, the
    transaction is rolled back and the image's blob goes at once."""
    try:
        yield
    except BaseException:
        await session.rollback()
        await discard_blob(store, blob_key)
        raise


async def discard_blob(store: BlobStore, key: str) -> None:
    """Best-effort removal of a blob whose row did not commit (gc catches misses)."""
    try:
        await store.delete(key)
    except Exception:  # gc will find it
        log.warning("could not remove orphan blob %s; gc will", key, exc_info=True)


def enqueue_processing(session: AsyncSession, image: Image, max_attempts: int) -> None:
    queue.enqueue(
        session,
        "process_image",
        {"imageId": image.id},
        image_id=image.id,
        max_attempts=max_attempts,
    )


def _clean_name(filename: str | None) -> str | None:
    if not filename:
        return None
    # Browsers send a bare name; some clients send a path. Keep the last part.
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '"')
    return name[:255] or None


# --- presigned uploads --------------------------------------------------------


def upload_key(upload_id: str) -> str:
    return f"uploads/{upload_id}"


def parse_checksum(value: str) -> str:
    """Accept ``sha256:<hex>``, plain hex, or base64 SHA-256; return hex."""
    raw = value.strip()
    if raw.lower().startswith("sha256:"):
        raw = raw[7:]
    elif ":" in raw:
        raise AppError(422, "invalid_checksum", "Only sha256 checksums are supported.")
    if len(raw) == 64:
        try:
            bytes.fromhex(raw)
            return raw.lower()
        except ValueError:
            pass
    try:
        digest = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 32:
        raise AppError(
            422, "invalid_checksum", "checksum must be a SHA-256 digest (sha256:<hex> or base64)."
        )
    return digest.hex()


@dataclass(frozen=True)
class PresignedUpload:
    upload: Upload
    url: str


async def create_upload(
    session: AsyncSession,
    store: BlobStore,
    settings: Settings,
    owner_id: str,
    filename: str,
    size: int,
    content_type: str,
    checksum: str | None,
) -> PresignedUpload:
    if size > settings.max_file_size:
        raise file_too_large(settings.max_file_size)
    checksum_hex = parse_checksum(checksum) if checksum else None
    upload_id = new_id("upl")
    now = utcnow()
    upload = Upload(
        id=upload_id,
        owner_id=owner_id,
        filename=_clean_name(filename) or "upload",
        size=size,
        content_type=content_type,
        checksum=checksum_hex,
        blob_key=upload_key(upload_id),
        status="pending",
        created_at=now,
        expires_at=now + dt.timedelta(seconds=settings.presign_expires),
    )
    session.add(upload)
    await session.flush()
    url = await store.presign_put(upload.blob_key, settings.presign_expires, size=size)
    if url is None:
        expires = int(upload.expires_at.timestamp())
        signature = sign_upload(settings.secret_key, upload_id, expires)
        url = (
            f"{settings.public_base_url}/v1/uploads/{upload_id}/content"
            f"?expires={expires}&signature={signature}"
        )
    return PresignedUpload(upload, url)


async def pending_upload(session: AsyncSession, upload_id: str, owner_id: str | None) -> Upload:
    """The upload if it can still receive bytes or be finalized; 404/409/410 otherwise."""
    upload = await session.get(Upload, upload_id)
    if upload is None or (owner_id is not None and upload.owner_id != owner_id):
        raise AppError(
            404, "upload_not_found", "No such upload. Start a new one with POST /v1/uploads."
        )
    if upload.kind == "tus" and upload.status == "pending":
        raise AppError(
            409,
            "upload_incomplete",
            "This resumable upload still lacks bytes: PATCH them to /v1/tus/{id}; it becomes "
            "an image by itself when the last one arrives.",
        )
    if upload.status == "completed":
        raise AppError(
            409,
            "upload_already_finalized",
            "This upload has already become an image.",
            imageId=upload.image_id,
        )
    if upload.status == "failed":
        raise AppError(
            410,
            upload.error_code or "upload_failed",
            f"This upload's bytes were not accepted: {upload.error_detail}",
        )
    if upload.status != "pending" or upload.expires_at <= utcnow():
        raise AppError(
            410, "upload_expired", "This upload has expired. Start a new one with POST /v1/uploads."
        )
    return upload


async def image_of_upload(session: AsyncSession, upload_id: str, owner_id: str) -> Image | None:
    """The image a resumable upload already became (tus finalizes by itself)."""
    upload = await session.get(Upload, upload_id)
    if upload is None or upload.owner_id != owner_id or upload.kind != "tus":
        return None
    if upload.status != "completed" or upload.image_id is None:
        return None
    return await session.get(Image, upload.image_id)


@dataclass(frozen=True)
class Finalized:
    image: Image
    #: True when ``image`` is the owner's existing copy of the same bytes.
    duplicate: bool


async def finalize_upload(
    session: AsyncSession,
    store: BlobStore,
    settings: Settings,
    upload: Upload,
    fields: NewImageFields,
    *,
    allow_duplicate: bool = False,
) -> Finalized:
    """Check the uploaded object and make it an image (row added, not committed),
    or, when the owner has these bytes already (and ``allow_duplicate`` is
    false), complete the upload as that image: nothing stored, its
    reservation released.

    ``upload`` comes from :func:`pending_upload`, read in a transaction the
    caller has ended: the download and validation that follow take seconds,
    and must not hold a pooled connection (the conditional update below
    checks the row again)."""
    owner_id = upload.owner_id
    meta = await store.head(upload.blob_key)
    if meta is None:
        raise AppError(
            409,
            "upload_incomplete",
            "No bytes have been uploaded yet: PUT the file to the presigned URL first.",
        )
    if meta.size != upload.size:
        raise AppError(
            422,
            "size_mismatch",
            f"The uploaded object is {meta.size} bytes but {upload.size} were declared.",
        )
    if meta.size > settings.max_file_size:
        raise file_too_large(settings.max_file_size)
    spool = Spool(store.staging_dir, settings.max_file_size)
    try:
        spool.finish()
        await store.download(upload.blob_key, spool.path)
        digest = await anyio.to_thread.run_sync(sha256_file, spool.path)
        if upload.checksum and digest != upload.checksum:
            raise AppError(
                422, "checksum_mismatch", "The uploaded bytes do not match the declared checksum."
            )
        probed = await validate_image(spool.path, settings, owner_id)
        # Looked up after the validation, not before: no transaction (and no
        # pooled connection) may be open while it runs. A duplicate costs a
        # check of its bytes, never a copy.
        existing = None
        if not allow_duplicate:
            existing = await find_duplicate(session, owner_id, fields.org_id, digest)
        if existing is not None:
            await _claim(session, upload, existing.id, duplicate=True)
            await quotas.release(session, [upload.id])
            return Finalized(existing, duplicate=True)
        image = build_image(owner_id, fields, probed, meta.size, digest, upload.filename)
        await _claim(session, upload, image.id)
        # Before the bytes are stored: the reservation becomes the image's size.
        await quotas.charge_image(session, settings, image, [upload.id])
        # Store the bytes we validated (not a server-side copy): the object the
        # client PUT may carry any Content-Type and metadata it liked.
        await store.put_file(image.blob_key, spool.path, image.mime_type)
    finally:
        spool.cleanup()
    add_new_image(session, image, settings, fields.album_id)
    return Finalized(image, duplicate=False)


async def _claim(
    session: AsyncSession, upload: Upload, image_id: str, *, duplicate: bool = False
) -> None:
    """Claim the upload with a conditional update: two concurrent finalizes
    of the same upload cannot both create an image. A duplicate records that
    it was one (``GET /v1/uploads/{id}`` says so)."""
    values: dict[str, Any] = {"status": "completed", "image_id": image_id}
    if duplicate:
        values["fields"] = {**(upload.fields or {}), "duplicate": True}
    claimed = await session.execute(
        update(Upload)
        .where(Upload.id == upload.id, Upload.status == "pending")
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        raise AppError(409, "upload_already_finalized", "This upload has already become an image.")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


async def receive_upload_bytes(store: BlobStore, upload: Upload, spool: Spool) -> None:
    """Store bytes PUT to the API's own signed URL (local-files deployments)."""
    if spool.size != upload.size:
        raise AppError(
            422,
            "size_mismatch",
            f"Received {spool.size} bytes but {upload.size} were declared.",
        )
    await store.put_file(upload.blob_key, spool.path)
