"""Routes for image records under /v1."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse

from imghost.access.decide import holds, image_access, owns
from imghost.access.grants import Caller
from imghost.access.listing import listable_images
from imghost.access.policy import Action, Level
from imghost.accounts import services as accounts
from imghost.audit import services as audit
from imghost.deps import Ctx, CurrentActor, Db, ReadDb, Reads, Who
from imghost.images import services
from imghost.images.fields import MAX_TAG_LENGTH
from imghost.images.policy import check_bytes, served_original
from imghost.images.schemas import (
    ImageDetailOut,
    ImageList,
    ImageMetadataOut,
    ImageOut,
    ImagePatch,
    image_url,
)
from imghost.schemas import ImageSort

router = APIRouter(tags=["images"])


@router.get("/v1/images/{image_id}", response_model=ImageDetailOut)
async def get_image(
    image_id: str, request: Request, caller: Who, db: Db, reads: Reads, ctx: Ctx
) -> ImageDetailOut:
    """The image with its `versions`: the original (with the download level)
    and every stored preset, each with its delivery URL."""
    image = await services.get_image(db, image_id)
    grants = await image_access(reads, caller, image, Action.VIEW_METADATA)
    assert image is not None
    base = ctx.settings.public_base_url
    versions = await services.caller_versions(
        db,
        image,
        base_url=base,
        owner=owns(grants, image),
        may_download=holds(grants, image, Level.DOWNLOAD),
        # A link grant reaches the bytes only if it travels with their URLs.
        share=request.query_params.get("share") if caller.link_id else None,
    )
    owner_view = holds(grants, image, Level.OWNER)
    summary = ImageOut.of(image, base, owner_view)
    return ImageDetailOut(**summary.model_dump(), versions=versions)


@router.patch("/v1/images/{image_id}", response_model=ImageOut)
async def patch_image(
    image_id: str, body: ImagePatch, actor: CurrentActor, db: Db, reads: Reads, ctx: Ctx
) -> ImageOut:
    """Collaborators with `edit` change title, description and tags; only the
    owner (or an org admin) changes visibility."""
    caller = Caller(actor.user_id, actor.is_admin)
    image = await services.get_image(db, image_id)
    await image_access(reads, caller, image, Action.EDIT_METADATA)
    assert image is not None
    before = image.visibility
    if "visibility" in body.model_fields_set and body.visibility != before:
        await image_access(reads, caller, image, Action.SHARE)
    await services.update_image(db, image, body)
    if image.visibility != before:
        await audit.record(
            db,
            "image.visibility_changed",
            actor_id=actor.user_id,
            actor_kind=audit.as_admin(actor.is_admin, image.owner_id, actor.user_id),
            target=("image", image.id),
            details={"from": before, "to": image.visibility},
        )
    await db.commit()
    await db.refresh(image)
    return ImageOut.of(image, ctx.settings.public_base_url)


@router.get("/v1/images/{image_id}/file", status_code=302, response_class=RedirectResponse)
async def image_file(
    image_id: str, request: Request, caller: Who, db: Db, reads: Reads, ctx: Ctx
) -> RedirectResponse:
    """Redirect to the bytes: the delivery URL (keeping a `?share=` grant), or a
    presigned S3 GET in redirect mode."""
    image = await services.get_image(db, image_id)
    grants = await image_access(reads, caller, image, Action.DOWNLOAD_ORIGINAL)
    assert image is not None
    check_bytes(image.status, grants.admin)
    if ctx.settings.delivery == "redirect":
        reviewing = grants.admin and image.status == "quarantined"
        blob_key, _, _ = served_original(image, owns(grants, image) or reviewing)
        presigned = await ctx.store.presign_get(blob_key, 300)
        if presigned:
            return RedirectResponse(presigned, status_code=302, headers=_NOT_SHARED)
    target = image_url(ctx.settings.public_base_url, image.id)
    if share := request.query_params.get("share"):
        target += "?" + urlencode({"share": share})
    return RedirectResponse(target, status_code=302, headers=_NOT_SHARED)


# The redirect depends on the caller (a presigned URL for their copy, their grant).
_NOT_SHARED = {"Cache-Control": "private, no-store", "Vary": "Authorization"}


@router.get("/v1/images/{image_id}/metadata", response_model=ImageMetadataOut)
async def image_metadata(image_id: str, caller: Who, db: Db, reads: Reads) -> ImageMetadataOut:
    image = await services.get_image(db, image_id)
    grants = await image_access(reads, caller, image, Action.VIEW_METADATA)
    assert image is not None
    return ImageMetadataOut.of(image, holds(grants, image, Level.OWNER))


@router.get("/v1/users/{user_id}/images", response_model=ImageList)
async def user_images(
    user_id: Annotated[str, Path(description="user id or username")],
    caller: Who,
    read: ReadDb,
    ctx: Ctx,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    tag: Annotated[str | None, Query(max_length=MAX_TAG_LENGTH)] = None,
    sort: ImageSort = "newest",
) -> ImageList:
    """The owner sees all their images; others see the public ones and the
    shared ones shared with them (never unlisted ones; private ones only as
    a site admin or the org's owner or admin)."""
    owner = await accounts.get_user_by_id_or_name(read, user_id)
    images, total = await services.list_user_images(
        read,
        owner.id,
        visible=listable_images(caller),
        tag=tag,
        page=page,
        limit=limit,
        sort=sort,
    )
    base = ctx.settings.public_base_url
    return ImageList(
        images=[ImageOut.of(i, base) for i in images], page=page, limit=limit, total=total
    )
