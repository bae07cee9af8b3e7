"""Routes of the caller's data export: start one, read its state, download it
(signed in, or through the signed link its state carries)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from fastapi.responses import StreamingResponse

from imghost.db import utcnow
from imghost.deps import Ctx, CurrentActor, Db
from imghost.exports import services
from imghost.exports.links import SIGNED_DOWNLOAD_PATH, ExportLinks
from imghost.exports.models import DataExport
from imghost.exports.schemas import ExportOut

router = APIRouter(tags=["exports"])

_ZIP: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/zip": {}}, "description": "The ZIP."}
}


def export_out(export: DataExport, links: ExportLinks, now: dt.datetime) -> ExportOut:
    url = until = None
    if export.status == "ready" and export.expires_at is not None and export.expires_at > now:
        url, until = links.mint(export.id, export.expires_at, now)
    return ExportOut(
        export_id=export.id,
        status=export.status,
        created_at=export.created_at,
        ready_at=export.ready_at,
        expires_at=export.expires_at,
        size=export.size,
        images=export.images,
        download_url=url,
        download_url_expires_at=until,
        error=export.error,
    )


@router.post("/v1/users/me/export", response_model=ExportOut, status_code=status.HTTP_202_ACCEPTED)
async def start_export(actor: CurrentActor, db: Db, ctx: Ctx) -> ExportOut:
    """Start an export job: a ZIP of the caller's originals and a JSON of their
    metadata; the caller is notified when it is ready."""
    export = await services.start(db, actor.user_id)
    out = export_out(export, ctx.exports.links, utcnow())
    await db.commit()
    return out


@router.get("/v1/users/me/export", response_model=ExportOut)
async def read_export(actor: CurrentActor, db: Db, ctx: Ctx) -> ExportOut:
    """The latest export; while it is ready, `downloadUrl` is a fresh signed link."""
    return export_out(await services.latest(db, actor.user_id), ctx.exports.links, utcnow())


@router.get(services.DOWNLOAD_URL, response_class=StreamingResponse, responses=_ZIP)
async def download_export(actor: CurrentActor, ctx: Ctx, db: Db) -> StreamingResponse:
    export = await services.latest_ready(db, actor.user_id, utcnow())
    return await _stream(ctx, db, export)


@router.get(SIGNED_DOWNLOAD_PATH, response_class=StreamingResponse, responses=_ZIP)
async def download_signed(
    export_id: str,
    ctx: Ctx,
    db: Db,
    exp: Annotated[str, Query(max_length=20)] = "",
    kid: Annotated[str, Query(max_length=20)] = "",
    sig: Annotated[str, Query(max_length=100)] = "",
) -> StreamingResponse:
    """The ZIP through the signed link of the export's `downloadUrl`, no sign-in
    needed: 403 `invalid_download_link` when it was changed, 410
    `download_link_expired` after its time, 410 `export_gone` once the export
    expired or the account was deleted."""
    now = utcnow()
    ctx.exports.links.check(export_id, exp, kid, sig, now)
    return await _stream(ctx, db, await services.downloadable(db, export_id, now))


async def _stream(ctx: Ctx, db: Db, export: DataExport) -> StreamingResponse:
    key, size, export_id = export.blob_key, export.size, export.id
    # End the read before streaming: the connection is not held for the download.
    await db.rollback()
    headers = {
        "Content-Disposition": f'attachment; filename="imghost-export-{export_id}.zip"',
        "Cache-Control": "private, no-store",
    }
    if size is not None:
        headers["Content-Length"] = str(size)
    # Raises before the answer starts when the ZIP is missing: a problem answer,
    # not a cut-off body.
    body = await ctx.store.get(key)
    return StreamingResponse(body, media_type="application/zip", headers=headers)
