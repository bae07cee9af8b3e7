"""Notify a user: the contract other features call.

The notifications feature fills this in (in-app row, e-mail, webhooks); quota
warnings and sharing call it inside their own transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession


async def notify(
    session: AsyncSession,
    *,
    user_id: str,
    kind: str,
    title: str,
    body: str,
    data: dict[str, Any],
) -> None:
    """Record a notification for ``user_id`` and queue its deliveries (e-mail,
    webhooks) in the caller's transaction; never commits, never blocks on the
    network. ``kind``: a stable identifier such as ``quota.warning`` or
    ``share.image``."""
    return None
