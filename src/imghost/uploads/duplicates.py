"""Duplicates by content hash, per owner: the lookup every upload path makes
before it stores a file, and the client's way to ask for a copy anyway.

Re-exported by ``uploads.services`` (the module other features import)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.errors import AppError
from imghost.images.models import Image


async def find_duplicate(
    session: AsyncSession, owner_id: str, org_id: str | None, sha256: str
) -> Image | None:
    """The owner's oldest live image with these bytes in the same namespace (their
    own, or the same org), if any: an upload of it answers with that image
    instead of storing a copy. Trashed images do not count (a restore would
    make two), purged ones are gone.

    Not a lock: two uploads of the same new bytes at the same moment both find
    none and both store an image (no unique index: a copy asked for with
    allowDuplicate is legitimate). That race costs a copy, never an error."""
    namespace = Image.org_id.is_(None) if org_id is None else Image.org_id == org_id
    return await session.scalar(
        select(Image)
        .where(
            Image.owner_id == owner_id,
            Image.sha256 == sha256,
            namespace,
            Image.deleted_at.is_(None),
        )
        .order_by(Image.created_at, Image.id)
        .limit(1)
    )


def allow_duplicate_field(value: str | None) -> bool:
    """``allowDuplicate`` sent as text (a form field, tus metadata)."""
    if value in (None, "", "false"):
        return False
    if value == "true":
        return True
    raise AppError(422, "validation_error", "allowDuplicate must be true or false.")
