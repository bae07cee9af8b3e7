"""Routes for albums under /v1/albums.

Albums the caller may not see answer 404, exactly like missing ones; reads
accept a share-link grant (``?share=``) for the album, writes need a signed-in
user. The services decide and never commit; each route commits.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from imghost.access.grants import Caller
from imghost.access.policy import Action, grant_expiry
from imghost.albums import services as albums
from imghost.albums.schemas import (
    AlbumCollaboratorAdd,
    AlbumCollaboratorGranted,
    AlbumCollaboratorList,
    AlbumCollaboratorOut,
    AlbumCollaboratorShared,
    AlbumCreate,
    AlbumImageIds,
    AlbumImageList,
    AlbumList,
    AlbumOrder,
    AlbumOut,
    AlbumPatch,
    CollaboratorPut,
)
from imghost.audit import services as audit
from imghost.db import utcnow
from imghost.deps import Ctx, CurrentActor, Db, ReadDb, Who
from imghost.errors import NotFound
from imghost.images.schemas import ImageOut
from imghost.sharing import services as sharing
from imghost.sharing.schemas import PendingShareOut, ShareInvited

router = APIRouter(tags=["sharing"])

Page = Annotated[int, Query(ge=1, le=100_000)]
Limit = Annotated[int, Query(ge=1, le=100)]


def _user(actor: CurrentActor) -> Caller:
    return Caller(actor.user_id, actor.is_admin)


async def _answer(db: Db, caller: Caller, access: albums.AlbumAccess, ctx: Ctx) -> AlbumOut:
    """The album as this caller sees it, read in the transaction, then committed."""
    out = AlbumOut.of(await albums.facts(db, caller, access), ctx.settings.public_base_url)
    await db.commit()
    return out


@router.post("/v1/albums", response_model=AlbumOut, status_code=201)
async def create_album(body: AlbumCreate, actor: CurrentActor, db: Db, ctx: Ctx) -> AlbumOut:
    """Create an album (private by default). With `orgId` it belongs to the
    org's namespace; only the org's owners and admins may create one."""
    caller = _user(actor)
    return await _answer(db, caller, await albums.create_album(db, caller, body), ctx)


@router.get("/v1/albums", response_model=AlbumList)
async def list_albums(
    actor: CurrentActor, read: ReadDb, ctx: Ctx, page: Page = 1, limit: Limit = 20
) -> AlbumList:
    """Albums the caller owns, their orgs' albums and albums shared with them."""
    found, total = await albums.list_albums(read, _user(actor), page=page, limit=limit)
    base = ctx.settings.public_base_url
    return AlbumList(
        albums=[AlbumOut.of(f, base) for f in found], page=page, limit=limit, total=total
    )


@router.get("/v1/albums/{album_id}", response_model=AlbumOut)
async def get_album(album_id: str, caller: Who, db: Db, read: ReadDb, ctx: Ctx) -> AlbumOut:
    access = await albums.album_access(db, caller, album_id, Action.VIEW_METADATA)
    return AlbumOut.of(await albums.facts(read, caller, access), ctx.settings.public_base_url)


@router.patch("/v1/albums/{album_id}", response_model=AlbumOut)
async def patch_album(
    album_id: str, body: AlbumPatch, actor: CurrentActor, db: Db, ctx: Ctx
) -> AlbumOut:
    """Title, description and cover need `edit`; visibility only the owner
    changes. The cover must be one of the album's images."""
    caller = _user(actor)
    return await _answer(db, caller, await albums.update_album(db, caller, album_id, body), ctx)


@router.delete("/v1/albums/{album_id}", status_code=204, response_class=Response)
async def delete_album(album_id: str, actor: CurrentActor, db: Db) -> Response:
    """Delete the album (owner only). Its images are not deleted: only their
    membership in this album, its collaborators and its share links go."""
    await albums.delete_album(db, _user(actor), album_id)
    await db.commit()
    return Response(status_code=204)


@router.get("/v1/albums/{album_id}/images", response_model=AlbumImageList)
async def album_images(
    album_id: str, caller: Who, db: Db, read: ReadDb, ctx: Ctx, page: Page = 1, limit: Limit = 20
) -> AlbumImageList:
    """The album's images in album order, those the caller may see in it.

    Private images of the album's own namespace show only to callers whose
    access comes from a grant (not from the album being public); anyone
    else's images only to those who may see them on their own.
    """
    access = await albums.album_access(db, caller, album_id, Action.VIEW_METADATA)
    images, total = await albums.list_images(read, caller, access, page=page, limit=limit)
    base = ctx.settings.public_base_url
    return AlbumImageList(
        images=[ImageOut.of(i, base) for i in images], page=page, limit=limit, total=total
    )


@router.post("/v1/albums/{album_id}/images", response_model=AlbumOut)
async def add_images(
    album_id: str, body: AlbumImageIds, actor: CurrentActor, db: Db, ctx: Ctx
) -> AlbumOut:
    """Append images (1 to 100) in the order given; ones already there are skipped.
    Needs `upload` on the album and sight of every image, or nothing is added."""
    caller = _user(actor)
    access = await albums.add_images(db, caller, album_id, body.image_ids)
    return await _answer(db, caller, access, ctx)


@router.delete("/v1/albums/{album_id}/images", response_model=AlbumOut)
async def remove_images(
    album_id: str, body: AlbumImageIds, actor: CurrentActor, db: Db, ctx: Ctx
) -> AlbumOut:
    """Take images out of the album (they are not deleted). Needs `edit`, or
    having added the image yourself. Ids not in the album are ignored."""
    caller = _user(actor)
    access = await albums.remove_images(db, caller, album_id, body.image_ids)
    return await _answer(db, caller, access, ctx)


@router.delete("/v1/albums/{album_id}/images/{image_id}", response_model=AlbumOut)
async def remove_image(
    album_id: str, image_id: str, actor: CurrentActor, db: Db, ctx: Ctx
) -> AlbumOut:
    """Take one image out of the album, as ``DELETE /v1/albums/{id}/images``."""
    caller = _user(actor)
    access = await albums.remove_images(db, caller, album_id, [image_id])
    return await _answer(db, caller, access, ctx)


@router.put("/v1/albums/{album_id}/order", response_model=AlbumOut)
async def reorder(
    album_id: str, body: AlbumOrder, actor: CurrentActor, db: Db, ctx: Ctx
) -> AlbumOut:
    """Set the order: `imageIds` lists every image you see in the album once
    (400 `order_mismatch` otherwise). Needs `edit`."""
    caller = _user(actor)
    access = await albums.reorder(db, caller, album_id, body.image_ids)
    return await _answer(db, caller, access, ctx)


async def _audit(
    db: Db, actor: CurrentActor, kind: str, album_id: str, details: dict[str, Any]
) -> None:
    """An album collaborator added or removed (audit log), in the change's transaction."""
    await audit.record(
        db, kind, actor_id=actor.user_id, target=("album", album_id), details=details
    )


@router.get("/v1/albums/{album_id}/collaborators", response_model=AlbumCollaboratorList)
async def list_collaborators(album_id: str, actor: CurrentActor, db: Db) -> AlbumCollaboratorList:
    """The album's collaborators, and its shares by e-mail not yet claimed (owner only)."""
    rows = await albums.list_collaborators(db, _user(actor), album_id)
    waiting = await sharing.list_for(db, sharing.Target("album", album_id, None))
    return AlbumCollaboratorList(
        collaborators=[AlbumCollaboratorOut.of(grant, user) for grant, user in rows],
        pending=[PendingShareOut.of(row) for row in waiting],
    )


@router.delete(
    "/v1/albums/{album_id}/pending-shares/{email}", status_code=204, response_class=Response
)
async def delete_pending_share(album_id: str, email: str, actor: CurrentActor, db: Db) -> Response:
    """Withdraw a share sent by e-mail before it is claimed (404 if there is none)."""
    await albums.shareable(db, _user(actor), album_id)
    if not await sharing.revoke(db, sharing.Target("album", album_id, None), email):
        raise NotFound("No share is waiting for that address on this album.")
    await _audit(db, actor, "collaborator.removed", album_id, {"pending": True})
    await db.commit()
    return Response(status_code=204)


@router.put(
    "/v1/albums/{album_id}/collaborators/{user_id}", response_model=AlbumCollaboratorGranted
)
async def put_collaborator(
    album_id: str, user_id: str, body: CollaboratorPut, actor: CurrentActor, db: Db
) -> AlbumCollaboratorGranted:
    """Give a user `view`, `download`, `upload` or `edit` on the album (owner
    only). In an org album the user must be a member of the org. A private
    album becomes shared (a grant on it would otherwise be dormant). The grant
    is replaced whole: `expiresAt` sets its end, left out it has none."""
    expires = grant_expiry(body.expires_at, utcnow())
    grant, user, visibility = await albums.put_collaborator(
        db, _user(actor), album_id, user_id, body.permission, expires
    )
    out = AlbumCollaboratorGranted(
        **AlbumCollaboratorOut.of(grant, user).model_dump(), visibility=visibility
    )
    added: dict[str, Any] = {"userId": user.id, "permission": body.permission}
    await _audit(db, actor, "collaborator.added", album_id, added)
    await db.commit()
    return out


@router.post(
    "/v1/albums/{album_id}/collaborators",
    response_model=AlbumCollaboratorShared | ShareInvited,
    responses={202: {"model": ShareInvited, "description": "Shared with an e-mail address"}},
)
async def add_collaborator(
    album_id: str,
    body: AlbumCollaboratorAdd,
    response: Response,
    actor: CurrentActor,
    db: Db,
    ctx: Ctx,
) -> AlbumCollaboratorShared | ShareInvited:
    """The design's share: `sharedWith` is a user id, a username or an e-mail.
    By id or username as the PUT (200); by e-mail 202 `invited` whether or not
    an account has the address, claimed once that address is verified (an
    org album's invitation is granted only to a member of the org)."""
    caller = _user(actor)
    album = await albums.shareable(db, caller, album_id)  # 404/403 before anything else
    expires = grant_expiry(body.expires_at, utcnow())
    if sharing.is_email(body.shared_with):
        invited = await sharing.invite_by_email(
            db,
            sharing.Target("album", album.id, album.title),
            body.shared_with,
            body.permission,
            actor.user_id,
            ttl=ctx.settings.share_invite_ttl,
            base_url=ctx.settings.public_base_url,
            grant_expires_at=expires,
        )
        waiting: dict[str, Any] = {"pending": True, "permission": body.permission}
        await _audit(db, actor, "collaborator.added", album_id, waiting)
        await db.commit()
        response.status_code = 202
        return invited
    user = await sharing.resolve_user(db, body.shared_with)
    grant, user, visibility = await albums.put_collaborator(
        db, caller, album_id, user.id, body.permission, expires
    )
    out = AlbumCollaboratorShared(
        **AlbumCollaboratorOut.of(grant, user).model_dump(),
        visibility=visibility,
        shared_with=body.shared_with,
    )
    added: dict[str, Any] = {"userId": user.id, "permission": body.permission}
    await _audit(db, actor, "collaborator.added", album_id, added)
    await db.commit()
    return out


@router.delete(
    "/v1/albums/{album_id}/collaborators/{user_id}", status_code=204, response_class=Response
)
async def remove_collaborator(album_id: str, user_id: str, actor: CurrentActor, db: Db) -> Response:
    """The owner removes a collaborator; a collaborator may remove themself."""
    await albums.remove_collaborator(db, _user(actor), album_id, user_id)
    await _audit(db, actor, "collaborator.removed", album_id, {"userId": user_id})
    await db.commit()
    return Response(status_code=204)
