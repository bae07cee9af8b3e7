"""The dependency every admin route takes: a signed-in site admin."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from imghost.auth.services import Actor
from imghost.deps import CurrentActor
from imghost.errors import AppError


async def require_admin(actor: CurrentActor) -> Actor:
    """403 ``admin_required`` for anyone but a site admin (``users.is_admin``,
    ``imghost admin grant``); 401 without credentials, as everywhere."""
    if not actor.is_admin:
        raise AppError(403, "admin_required", "Only site administrators can do this.")
    return actor


AdminActor = Annotated[Actor, Depends(require_admin)]
