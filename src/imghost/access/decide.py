"""Deciding one request against the policy: gather the grants, then ask."""

from __future__ import annotations

from imghost.access.grants import Caller, ImageRef, image_grants, image_resource
from imghost.access.policy import Action, Grants, Level, is_owner, level, require
from imghost.errors import NotFound
from imghost.reads import FastReader


async def image_access(
    reads: FastReader, caller: Caller, image: ImageRef | None, action: Action
) -> Grants:
    """The caller's grants on a live image, or the 403/404 the policy answers."""
    if image is None or getattr(image, "deleted_at", None) is not None:
        raise NotFound("No such image.")
    grants = await image_grants(reads, caller, image)
    require(grants, action, image_resource(image))
    return grants


def owns(grants: Grants, image: ImageRef) -> bool:
    """The uploader in person (their GPS original, their not-ready image)."""
    return is_owner(grants, image_resource(image))


def holds(grants: Grants, image: ImageRef, wanted: Level) -> bool:
    return level(grants, image_resource(image)) >= wanted
