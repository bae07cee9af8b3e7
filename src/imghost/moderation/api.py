"""The owner's side of a takedown: the counter-notice."""

from __future__ import annotations

from fastapi import APIRouter

from imghost.deps import CurrentActor, Db
from imghost.moderation import services as moderation
from imghost.moderation.schemas import CounterNoticeIn, TakedownOut

router = APIRouter(tags=["images"])


@router.post("/v1/images/{image_id}/counter-notice", response_model=TakedownOut)
async def counter_notice(
    image_id: str, body: CounterNoticeIn, actor: CurrentActor, db: Db
) -> TakedownOut:
    """The uploader disputes the takedown in force (recorded for the admins,
    who see it in `GET /v1/admin/takedowns`); a later one replaces it."""
    row = await moderation.counter_notice(
        db, image_id, actor.user_id, statement=body.statement, contact=body.contact
    )
    await db.commit()
    return TakedownOut.of(row)
