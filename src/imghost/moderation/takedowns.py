"""Takedowns: an admin withholds an image (451 everywhere, legal hold on its
bytes), its owner may file a counter-notice, an admin reinstates it.

The image's ``withheld`` column is what every read decides by; the
``takedowns`` rows are the record: who, why, which notice, the counter-notice,
when it was lifted. Services flush, never commit.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.accounts import services as accounts
from imghost.audit import services as audit
from imghost.db import utcnow
from imghost.errors import AppError, NotFound
from imghost.ids import new_id
from imghost.images import services as images
from imghost.moderation.models import Takedown
from imghost.notifications import services as notifications


async def _image(session: AsyncSession, image_id: str) -> images.Image:
    # Trashed images too: a takedown must be able to stop a pending purge.
    image = await images.get_image(session, image_id)
    if image is None:
        raise NotFound("No such image.")
    return image


async def active_takedown(session: AsyncSession, image_id: str) -> Takedown | None:
    found: Takedown | None = await session.scalar(
        select(Takedown).where(Takedown.image_id == image_id, Takedown.lifted_at.is_(None))
    )
    return found


def _not_taken_down() -> AppError:
    return AppError(409, "not_taken_down", "This image is not taken down.")


async def take_down(
    session: AsyncSession,
    image_id: str,
    *,
    reason: str,
    reference: str | None,
    admin_id: str | None,
) -> Takedown:
    """Withhold the image from everyone but admins and hold its bytes; tell the owner."""
    image = await _image(session, image_id)
    if await active_takedown(session, image.id) is not None:
        raise AppError(409, "already_taken_down", "This image is already taken down.")
    row = Takedown(
        id=new_id("tkd"),
        image_id=image.id,
        owner_id=image.owner_id,
        reason=reason,
        reference=reference,
        created_by=admin_id,
        created_at=utcnow(),
    )
    session.add(row)
    await images.set_withheld(session, image, images.TAKEDOWN)
    await notifications.notify(
        session,
        user_id=image.owner_id,
        kind="image.taken_down",
        title=f"Your image {image.title or image.id} was taken down",
        body=(
            f"Reason: {reason}."
            + (f" Reference: {reference}." if reference else "")
            + " It is unavailable to everyone (451) and its files are kept under legal hold."
            f" If you believe this is a mistake, file a counter-notice:"
            f" POST /v1/images/{image.id}/counter-notice."
        ),
        data={"imageId": image.id, "takedownId": row.id, "reason": reason, "reference": reference},
    )
    await audit.record(
        session,
        "admin.takedown",
        actor_id=admin_id,
        actor_kind=audit.by_admin(admin_id),
        target=("image", image.id),
        details={
            "takedownId": row.id,
            "ownerId": image.owner_id,
            "reason": reason,
            "reference": reference,
        },
    )
    return row


async def reinstate(session: AsyncSession, image_id: str, *, admin_id: str | None) -> Takedown:
    """Lift the takedown and the legal hold. The image stays withheld if its
    owner is suspended meanwhile; a purge it was waiting for then goes on."""
    image = await _image(session, image_id)
    row = await active_takedown(session, image.id)
    if row is None:
        raise _not_taken_down()
    row.lifted_at = utcnow()
    row.lifted_by = admin_id
    owner = await accounts.get_user(session, image.owner_id)
    await images.set_withheld(
        session, image, images.SUSPENDED if owner.suspended_at is not None else None
    )
    await notifications.notify(
        session,
        user_id=image.owner_id,
        kind="image.reinstated",
        title=f"Your image {image.title or image.id} was reinstated",
        body="The takedown was lifted: the image is available again as before.",
        data={"imageId": image.id, "takedownId": row.id},
    )
    await audit.record(
        session,
        "admin.reinstate",
        actor_id=admin_id,
        actor_kind=audit.by_admin(admin_id),
        target=("image", image.id),
        details={"takedownId": row.id, "ownerId": image.owner_id},
    )
    return row


async def counter_notice(
    session: AsyncSession, image_id: str, user_id: str, *, statement: str, contact: str
) -> Takedown:
    """The owner's counter-notice on the takedown in force (a later one replaces
    it). 404 for anyone but the uploader: a takedown is theirs to answer."""
    image = await images.get_image(session, image_id)
    if image is None or image.owner_id != user_id:
        raise NotFound("No such image.")
    row = await active_takedown(session, image.id)
    if row is None:
        raise _not_taken_down()
    row.counter_statement = statement
    row.counter_contact = contact
    row.counter_at = utcnow()
    await session.flush()
    await audit.record(
        session,
        "image.counter_notice",
        actor_id=user_id,
        target=("image", image.id),
        details={"takedownId": row.id},
    )
    return row


async def list_takedowns(
    session: AsyncSession, *, image_id: str | None, active: bool | None, limit: int
) -> list[Takedown]:
    """Newest first; admins see the counter-notices here."""
    query = select(Takedown)
    if image_id is not None:
        query = query.where(Takedown.image_id == image_id)
    if active is True:
        query = query.where(Takedown.lifted_at.is_(None))
    elif active is False:
        query = query.where(Takedown.lifted_at.is_not(None))
    rows = await session.scalars(
        query.order_by(Takedown.created_at.desc(), Takedown.id.desc()).limit(limit)
    )
    return list(rows)
