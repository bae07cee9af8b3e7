"""GET /v1/images and GET /images: list and search what the caller may see."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from imghost.access.policy import Action
from imghost.albums import services as albums
from imghost.deps import Ctx, Db, ReadDb, Who
from imghost.images.schemas import ImageOut
from imghost.schemas import ImageSort, Visibility
from imghost.search import services
from imghost.search.schemas import SearchResult

router = APIRouter(tags=["search"])


@router.get("/v1/images", response_model=SearchResult)
@router.get("/images", response_model=SearchResult, include_in_schema=False)
async def list_images(
    caller: Who,
    db: Db,
    read: ReadDb,
    ctx: Ctx,
    user: Annotated[str | None, Query(max_length=64, description="user id or username")] = None,
    tag: Annotated[list[str] | None, Query(max_length=10, description="all must match")] = None,
    album: Annotated[str | None, Query(max_length=40)] = None,
    org: Annotated[str | None, Query(max_length=40)] = None,
    visibility: Annotated[
        Visibility | None,
        Query(description="your own images of this visibility"),
    ] = None,
    format: Annotated[
        Literal["jpeg", "png", "gif", "webp", "heic", "heif", "avif"] | None, Query()
    ] = None,
    uploaded_from: Annotated[dt.datetime | None, Query(alias="from")] = None,
    uploaded_to: Annotated[dt.datetime | None, Query(alias="to")] = None,
    taken_from: Annotated[dt.datetime | None, Query(alias="takenFrom")] = None,
    taken_to: Annotated[dt.datetime | None, Query(alias="takenTo")] = None,
    make: Annotated[str | None, Query(max_length=64)] = None,
    model: Annotated[str | None, Query(max_length=64)] = None,
    min_width: Annotated[int | None, Query(alias="minWidth", ge=1, le=1_000_000)] = None,
    min_height: Annotated[int | None, Query(alias="minHeight", ge=1, le=1_000_000)] = None,
    q: Annotated[str | None, Query(max_length=200, description="full text")] = None,
    sort: ImageSort = "newest",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> SearchResult:
    """Filters combine (AND); `tag` repeats and every tag must match.

    Pagination: `page`/`limit` with `total`, or the keyset `cursor` from
    `next`, which stays fast at any depth and neither skips nor repeats items
    while new images arrive (`relevance` pages by position).
    """
    if album is not None:
        # Filtering by an album you cannot see would tell what is in it
        # (decided on the primary: the album, not a listing).
        await albums.album_access(db, caller, album, Action.VIEW_METADATA)
    filters = services.Filters(
        user=user,
        tags=tag or [],
        album=album,
        org=org,
        visibility=visibility,
        format=format,
        uploaded_from=_utc(uploaded_from),
        uploaded_to=_utc(uploaded_to),
        taken_from=_utc(taken_from),
        taken_to=_utc(taken_to),
        make=make,
        model=model,
        min_width=min_width,
        min_height=min_height,
        q=q,
    )
    found = await services.search(
        read, caller, filters, sort=sort, page=page, limit=limit, cursor=cursor
    )
    base = ctx.settings.public_base_url
    return SearchResult(
        images=[ImageOut.of(i, base) for i in found.images],
        page=page,
        limit=limit,
        total=found.total,
        total_capped=found.total_capped,
        next=found.next,
    )


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    """A date-time without an offset is taken as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)
