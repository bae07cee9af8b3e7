"""An image's stored versions (``image_versions``): writing them with their
blobs, and the ``versions`` list a caller of ``GET /v1/images/{id}`` gets.

Kinds, as stored:

- ``original``: the uploaded bytes (``{owner}/{image}/original``), written by
  every upload path with the image row (``build_image``);
- ``gps_free``: the copy with GPS scrubbed that everyone but the owner is
  served when the original carries a position the owner did not opt in to
  share (written by the processing job);
- ``preset``: a pre-generated rendition (``thumb``, ``small``, ``medium``,
  ``large`` in JPEG and WebP; written by the processing job).

Renditions made on request (transforms, AVIF presets) are the rendition
cache's rows (``processing.rendition_cache``): evicted at any time, so they
are not versions a client can rely on.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from PIL import Image as PILImage
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.db import utcnow
from imghost.images.models import Image, ImageVersion
from imghost.images.policy import served_original
from imghost.images.schemas import VersionOut, image_url
from imghost.storage import BlobNotFound, BlobStore

log = logging.getLogger(__name__)

ORIGINAL = "original"
GPS_FREE = "gps_free"
PRESET = "preset"

# File extensions of the delivery URLs (processing.variants names the same).
_EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp", "avif": "avif"}


@dataclass(frozen=True)
class NewVersion:
    """A blob just stored for an image, as the processing job describes it."""

    kind: str
    name: str
    blob_key: str
    format: str
    width: int
    height: int
    size: int
    sha256: str


def original_row(image: Image) -> ImageVersion:
    """The original's row, from the facts the upload established."""
    return ImageVersion(
        blob_key=image.blob_key,
        image_id=image.id,
        kind=ORIGINAL,
        name=ORIGINAL,
        format=image.format,
        width=image.width,
        height=image.height,
        size=image.size,
        sha256=image.sha256,
        created_at=image.created_at,
        last_used_at=image.created_at,
    )


async def replace_derived(
    session: AsyncSession, image_id: str, versions: Sequence[NewVersion]
) -> None:
    """The processing job's versions replace whatever an earlier run recorded:
    one DELETE and one multi-row INSERT, however many presets (flushed)."""
    await session.execute(
        delete(ImageVersion)
        .where(ImageVersion.image_id == image_id, ImageVersion.kind != ORIGINAL)
        .execution_options(synchronize_session=False)
    )
    await _insert(session, image_id, versions)


async def add_derived(session: AsyncSession, image_id: str, versions: Sequence[NewVersion]) -> None:
    """Record versions stored ahead of the rest (the processing job's thumbnails,
    listed while it makes the others): they replace rows of the same keys and
    leave the image's other rows alone (flushed)."""
    if not versions:
        return
    await session.execute(
        delete(ImageVersion)
        .where(ImageVersion.blob_key.in_([v.blob_key for v in versions]))
        .execution_options(synchronize_session=False)
    )
    await _insert(session, image_id, versions)


async def _insert(session: AsyncSession, image_id: str, versions: Sequence[NewVersion]) -> None:
    if not versions:
        return
    now = utcnow()
    await session.execute(
        insert(ImageVersion),
        [
            {
                "blob_key": v.blob_key,
                "image_id": image_id,
                "kind": v.kind,
                "name": v.name,
                "format": v.format,
                "width": v.width,
                "height": v.height,
                "size": v.size,
                "sha256": v.sha256,
                "created_at": now,
                "last_used_at": now,
            }
            for v in versions
        ],
    )


async def caller_versions(
    session: AsyncSession,
    image: Image,
    *,
    base_url: str,
    owner: bool,
    may_download: bool,
    share: str | None,
) -> list[VersionOut]:
    """What this caller may fetch, each with its delivery URL.

    The original only with the download level, and then the copy this caller
    is served (the GPS-free one unless they own it); the presets for anyone
    who sees the image (the view level), unless processing failed. A
    quarantined image's bytes go to admins only (their routes), and a damaged
    one's to nobody, so neither lists versions. ``share``: the caller's link
    grant, carried into every URL.
    """
    if image.status in ("quarantined", "damaged"):  # bytes served to nobody here
        return []
    rows = list(
        await session.scalars(select(ImageVersion).where(ImageVersion.image_id == image.id))
    )
    query = "?" + urlencode({"share": share}) if share else ""
    base = image_url(base_url, image.id)
    out: list[VersionOut] = []
    if may_download:
        key, _, size = served_original(image, owner)
        row = next((r for r in rows if r.blob_key == key), None)
        out.append(
            VersionOut(
                kind=ORIGINAL,
                name=ORIGINAL,
                format=image.format,
                width=row.width if row and row.width else image.width,
                height=row.height if row and row.height else image.height,
                size=size,
                url=base + query,
            )
        )
    if image.status != "failed":
        # Presets stored before 0014 are listed once measured (no hash yet).
        presets = sorted(
            (r for r in rows if r.kind == PRESET and r.sha256 is not None),
            key=lambda r: (r.width or 0, r.name, r.format),
        )
        out += [
            VersionOut(
                kind=PRESET,
                name=r.name,
                format=r.format,
                width=r.width or 0,
                height=r.height or 0,
                size=r.size,
                url=f"{base}/{r.name}.{_EXTENSIONS.get(r.format, r.format)}{query}",
            )
            for r in presets
        ]
    return out


@dataclass(frozen=True)
class Measured:
    blob_key: str
    width: int
    height: int
    size: int
    sha256: str


async def unmeasured(session: AsyncSession, limit: int) -> list[str]:
    """Keys of versions stored before migration 0014 recorded their hash and
    dimensions (presets: their sizes were known, the rest was not)."""
    return list(
        await session.scalars(
            select(ImageVersion.blob_key)
            .where(ImageVersion.sha256.is_(None))
            .order_by(ImageVersion.blob_key)
            .limit(limit)
        )
    )


async def measure(store: BlobStore, blob_key: str) -> Measured | None:
    """Read a stored version whole and measure it; None if its blob is not
    there. Only presets are ever unmeasured, and they are small (at most
    2048 px a side)."""
    try:
        data = await store.read_all(blob_key)
    except BlobNotFound:
        return None
    width = height = 0  # unreadable: the hash and size are still worth keeping
    try:
        with PILImage.open(io.BytesIO(data)) as img:  # reads the header only
            width, height = img.size
    except Exception:
        log.warning("version %s could not be measured", blob_key, exc_info=True)
    return Measured(blob_key, width, height, len(data), hashlib.sha256(data).hexdigest())


async def record_measured(
    session: AsyncSession, measured: Sequence[Measured], missing: Sequence[str]
) -> None:
    """Fill in what was measured; drop the rows of blobs that are not there
    (a row never names a missing blob for long). Only rows still unmeasured
    change: a processing job that wrote the version meanwhile wins (flushed)."""
    unmeasured_row = ImageVersion.sha256.is_(None)
    for m in measured:
        await session.execute(
            update(ImageVersion)
            .where(ImageVersion.blob_key == m.blob_key, unmeasured_row)
            .values(width=m.width, height=m.height, size=m.size, sha256=m.sha256)
            .execution_options(synchronize_session=False)
        )
    if missing:
        await session.execute(
            delete(ImageVersion)
            .where(ImageVersion.blob_key.in_(list(missing)), unmeasured_row)
            .execution_options(synchronize_session=False)
        )
    await session.flush()
