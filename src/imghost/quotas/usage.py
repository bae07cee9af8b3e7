"""Storage usage accounting: the contract other features call.

The quota feature fills these in; lifecycle (purge) and processing call them so
usage follows every byte written or removed.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from imghost.images.models import Image


async def image_purged(session: AsyncSession, image: Image) -> None:
    """Every byte of ``image`` (original, presets, cached transforms) is gone
    or about to be, in this transaction: free its usage. Idempotent per image."""
    return None
