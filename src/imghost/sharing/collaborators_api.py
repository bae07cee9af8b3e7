"""Routes: per-image collaborators and signed temporary URLs."""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from fastapi import APIRouter, Response

from imghost.access.decide import image_access
from imghost.access.grants import Caller
from imghost.access.policy import Action, grant_expiry
from imghost.audit import services as audit
from imghost.auth.services import Actor
from imghost.db import utcnow
from imghost.deps import Ctx, CurrentActor, Db, Reads
from imghost.errors import AppError, NotFound
from imghost.images import services as images
from imghost.sharing import collaborators, pending
from imghost.sharing.models import ImageCollaborator
from imghost.sharing.schemas import (
    CollaboratorAdd,
    CollaboratorGranted,
    CollaboratorIn,
    CollaboratorList,
    CollaboratorOut,
    CollaboratorShared,
    PendingShareOut,
    ShareInvited,
    SignedUrlIn,
    SignedUrlOut,
)
from imghost.sharing.signed_urls import signed_url, variant_path

router = APIRouter(tags=["sharing"])


def _out(row: ImageCollaborator, username: str) -> CollaboratorOut:
    return CollaboratorOut(
        user_id=row.user_id,
        username=username,
        permission=row.permission,
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


class Shared(Protocol):
    id: str
    owner_id: str


async def _added(db: Db, actor: Actor, image: Shared, details: dict[str, Any]) -> None:
    await audit.record(
        db,
        "collaborator.added",
        actor_id=actor.user_id,
        actor_kind=audit.as_admin(actor.is_admin, image.owner_id, actor.user_id),
        target=("image", image.id),
        details=details,
    )


async def _removed(
    db: Db, actor: Actor, image_id: str, owner_id: str, details: dict[str, Any]
) -> None:
    await audit.record(
        db,
        "collaborator.removed",
        actor_id=actor.user_id,
        actor_kind=audit.as_admin(actor.is_admin, owner_id, actor.user_id),
        target=("image", image_id),
        details=details,
    )


@router.put("/v1/images/{image_id}/collaborators/{user_id}", response_model=CollaboratorGranted)
async def put_collaborator(
    image_id: str, user_id: str, body: CollaboratorIn, actor: CurrentActor, db: Db, reads: Reads
) -> CollaboratorGranted:
    """Grant (or change) a user's permission: view = metadata and derivatives,
    download = also the original, edit = also title, description and tags.
    A private image becomes shared (a grant on it would otherwise be dormant).
    The grant is replaced whole: `expiresAt` sets its end, left out it has none."""
    image = await images.get_image(db, image_id)
    await image_access(reads, Caller(actor.user_id, actor.is_admin), image, Action.SHARE)
    assert image is not None
    expires = grant_expiry(body.expires_at, utcnow())
    row, user = await collaborators.grant(
        db, image, user_id, body.permission, actor.user_id, expires
    )
    out = CollaboratorGranted(**_out(row, user.username).model_dump(), visibility=image.visibility)
    await _added(db, actor, image, {"userId": user.id, "permission": body.permission})
    await db.commit()
    return out


@router.post(
    "/v1/images/{image_id}/collaborators",
    response_model=CollaboratorShared | ShareInvited,
    responses={202: {"model": ShareInvited, "description": "Shared with an e-mail address"}},
)
async def add_collaborator(
    image_id: str,
    body: CollaboratorAdd,
    response: Response,
    actor: CurrentActor,
    db: Db,
    reads: Reads,
    ctx: Ctx,
) -> CollaboratorShared | ShareInvited:
    """The design's share: `sharedWith` is a user id, a username or an e-mail.

    By id or username: the grant exists at once (200, as the PUT). By e-mail:
    202 `invited`, the same answer whether or not an account has the address;
    the address is e-mailed and the share waits until the account that
    verifies that address claims it (it grants nothing before). `expiresAt`
    ends the grant (a claimed one keeps it); adding a collaborator again
    replaces their grant, expiry included."""
    image = await images.get_image(db, image_id)
    await image_access(reads, Caller(actor.user_id, actor.is_admin), image, Action.SHARE)
    assert image is not None
    expires = grant_expiry(body.expires_at, utcnow())
    if pending.is_email(body.shared_with):
        invited = await pending.invite_by_email(
            db,
            pending.Target("image", image.id, image.title),
            body.shared_with,
            body.permission,
            actor.user_id,
            ttl=ctx.settings.share_invite_ttl,
            base_url=ctx.settings.public_base_url,
            grant_expires_at=expires,
        )
        # The address is the collaborator's: kept as a digest, like a sign-in's.
        await _added(db, actor, image, {"pending": True, "permission": body.permission})
        await db.commit()
        response.status_code = 202
        return invited
    user = await pending.resolve_user(db, body.shared_with)
    grant, user = await collaborators.grant(
        db, image, user.id, body.permission, actor.user_id, expires
    )
    out = CollaboratorShared(
        **_out(grant, user.username).model_dump(),
        visibility=image.visibility,
        shared_with=body.shared_with,
    )
    await _added(db, actor, image, {"userId": user.id, "permission": body.permission})
    await db.commit()
    return out


@router.get("/v1/images/{image_id}/collaborators", response_model=CollaboratorList)
async def list_collaborators(
    image_id: str, actor: CurrentActor, db: Db, reads: Reads
) -> CollaboratorList:
    image = await images.get_image(db, image_id)
    await image_access(reads, Caller(actor.user_id, actor.is_admin), image, Action.SHARE)
    assert image is not None
    rows = await collaborators.list_for(db, image_id)
    waiting = await pending.list_for(db, pending.Target("image", image.id, image.title))
    return CollaboratorList(
        collaborators=[_out(c, u.username) for c, u in rows],
        pending=[PendingShareOut.of(p) for p in waiting],
    )


@router.delete("/v1/images/{image_id}/pending-shares/{email}", status_code=204)
async def delete_pending_share(
    image_id: str, email: str, actor: CurrentActor, db: Db, reads: Reads
) -> Response:
    """Withdraw a share sent by e-mail before it is claimed (404 if there is none)."""
    image = await images.get_image(db, image_id)
    await image_access(reads, Caller(actor.user_id, actor.is_admin), image, Action.SHARE)
    assert image is not None
    if not await pending.revoke(db, pending.Target("image", image.id, image.title), email):
        raise NotFound("No share is waiting for that address on this image.")
    await _removed(db, actor, image.id, image.owner_id, {"pending": True})
    await db.commit()
    return Response(status_code=204)


@router.delete("/v1/images/{image_id}/collaborators/{user_id}", status_code=204)
async def delete_collaborator(
    image_id: str, user_id: str, actor: CurrentActor, db: Db, reads: Reads
) -> Response:
    """The owner removes anyone; a collaborator may remove themself."""
    image = await images.get_image(db, image_id)
    action = Action.VIEW_METADATA if user_id == actor.user_id else Action.SHARE
    await image_access(reads, Caller(actor.user_id, actor.is_admin), image, action)
    await collaborators.revoke(db, image_id, user_id)
    assert image is not None
    await _removed(db, actor, image_id, image.owner_id, {"userId": user_id})
    await db.commit()
    return Response(status_code=204)


@router.post("/v1/images/{image_id}/share", response_model=SignedUrlOut)
async def share(
    image_id: str, body: SignedUrlIn, actor: CurrentActor, db: Db, reads: Reads, ctx: Ctx
) -> SignedUrlOut:
    """A signed temporary URL (HMAC-SHA256 over path, expiry and permissions).

    It works for anyone holding it until `expiresAt`, then answers 403; any
    change to it answers 403. Only the owner (or an org admin) may sign.
    """
    image = await images.get_image(db, image_id)
    await image_access(reads, Caller(actor.user_id, actor.is_admin), image, Action.SHARE)
    limit = ctx.settings.signed_url_max_expires
    if body.expires_in > limit:
        raise AppError(
            400,
            "expires_in_too_long",
            f"A signed URL can last at most {limit} seconds; ask for less.",
        )
    permissions: list[str] = sorted(set(body.permissions))
    path = variant_path(image_id, body.variant, permissions)
    # Whole seconds: the expiry in the URL is what is signed.
    expires = (utcnow() + dt.timedelta(seconds=body.expires_in)).replace(microsecond=0)
    url = signed_url(ctx.signing_keys, ctx.settings.public_base_url, path, permissions, expires)
    assert image is not None
    await audit.record(
        db,
        "signed_url.issued",
        actor_id=actor.user_id,
        actor_kind=audit.as_admin(actor.is_admin, image.owner_id, actor.user_id),
        target=("image", image_id),
        details={"path": path, "permissions": permissions, "expiresAt": expires.isoformat()},
    )
    await db.commit()
    return SignedUrlOut(
        share_url=url,
        expires_at=expires,
        path=path,
        permissions=permissions,
        key_id=ctx.signing_keys.current,
    )
