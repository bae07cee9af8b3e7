"""Storage usage accounting: the contract other features call.

Lifecycle (purge) calls :func:`image_purged` so usage follows every byte
removed; uploads and processing call :mod:`imghost.quotas.services`.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from imghost.quotas import services


async def image_purged(session: AsyncSession, image: services.CountedImage) -> None:
    """Every byte of ``image`` (original, presets, cached transforms) is gone
    or about to be, in this transaction: free its usage. Idempotent per image."""
    await services.free_image(session, image.id)
