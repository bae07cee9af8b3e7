"""Routes of the caller's data export: start one, read its state, download it."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import StreamingResponse

from imghost.db import utcnow
from imghost.deps import Ctx, CurrentActor, Db
from imghost.exports import services
from imghost.exports.models import DataExport
from imghost.exports.schemas import ExportOut

router = APIRouter(tags=["exports"])


def export_out(export: DataExport) -> ExportOut:
    ready = export.status == "ready"
    return ExportOut(
        export_id=export.id,
        status=export.status,
        created_at=export.created_at,
        ready_at=export.ready_at,
        expires_at=export.expires_at,
        size=export.size,
        images=export.images,
        download_url=services.DOWNLOAD_URL if ready else None,
        error=export.error,
    )


@router.post("/v1/users/me/export", response_model=ExportOut, status_code=status.HTTP_202_ACCEPTED)
async def start_export(actor: CurrentActor, db: Db) -> ExportOut:
    """Start an export job: a ZIP of the caller's originals and a JSON of their
    metadata; the caller is notified when it is ready."""
    export = await services.start(db, actor.user_id)
    out = export_out(export)
    await db.commit()
    return out


@router.get("/v1/users/me/export", response_model=ExportOut)
async def read_export(actor: CurrentActor, db: Db) -> ExportOut:
    return export_out(await services.latest(db, actor.user_id))


@router.get(
    services.DOWNLOAD_URL,
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}, "description": "The ZIP."}},
)
async def download_export(actor: CurrentActor, ctx: Ctx, db: Db) -> StreamingResponse:
    export = await services.latest_ready(db, actor.user_id, utcnow())
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
