"""What resolving an image's reports does to the image, one function per action.

``reports.schemas.Resolution`` lists the actions the API accepts, and
``cli/reports.py`` the same for the command line.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from imghost.images import services as images
from imghost.moderation import services as moderation
from imghost.notifications import services as notifications

# (session, image id, the admin or None for the CLI, the admin's note)
Action = Callable[[AsyncSession, str, str | None, str | None], Awaitable[None]]


async def quarantine(
    session: AsyncSession, image_id: str, by: str | None, note: str | None
) -> None:
    """The image becomes ``quarantined``: listed nowhere, its bytes served to
    admins only; its record stays its owner's, its bytes count in their quota.
    The owner is told (in-app, e-mail, ``image.quarantined`` webhooks)."""
    reason = "Quarantined by a moderator after a report" + (f": {note}" if note else ".")
    image = await images.quarantine_by_admin(session, image_id, reason)
    if image is None or image.deleted_at is not None:
        return  # deleted meanwhile: nothing is served, nobody to tell about it
    name = image.title or image.id
    await notifications.notify(
        session,
        user_id=image.owner_id,
        kind="image.quarantined",
        title=f"Image quarantined: {name}"[:200],
        body=(
            f"Your image {name} ({image.id}) was quarantined after a report and is served "
            f"to no one. {reason}"
        ),
        data={**images.event_data(image), "by": "moderator", "reason": reason},
    )


async def takedown(session: AsyncSession, image_id: str, by: str | None, note: str | None) -> None:
    """A takedown (moderation): 451 on every path for everyone but admins, the
    bytes under legal hold, the owner told and free to file a counter-notice.
    The note is its reason; an image taken down already answers 409."""
    await moderation.take_down(
        session,
        image_id,
        reason=note or "Taken down after an abuse report.",
        reference=None,
        admin_id=by,
    )


ACTIONS: dict[str, Action] = {"quarantine": quarantine, "takedown": takedown}


async def apply_resolution(
    session: AsyncSession, image_id: str, action: str, *, by: str | None, note: str | None
) -> None:
    await ACTIONS[action](session, image_id, by, note)
