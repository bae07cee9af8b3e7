"""Share links: create, list, revoke, and resolve one for whoever holds it.

The link id is the secret in the URL. Resolving (``open``) is the only way a
holder gets at the target: it checks the link is usable, the password (with
failed attempts throttled), counts one view atomically, and hands back a
short-lived grant (``signing.mint_link_grant``) that every read path checks
against the link row on each request — so revoking is immediate.

Services flush, never commit: the request owns the transaction.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.access.policy import GRANTED_VISIBILITIES, check_withheld, visibility_after_sharing
from imghost.albums.models import Album
from imghost.auth.passwords import hash_password, verify_password
from imghost.db import utcnow
from imghost.errors import AppError
from imghost.ids import new_id
from imghost.images.models import Image
from imghost.sharing.models import ShareLink
from imghost.signing import SigningKeys, mint_link_grant

# A link password guards a private image against anyone who has the URL; the
# per-link attempt limit slows guessing, but 4 characters would still fall.
MIN_LINK_PASSWORD_LENGTH = 8


@dataclass(frozen=True)
class NewLink:
    permissions: list[str]
    password: str | None = None
    expires_in: int | None = None  # seconds
    max_views: int | None = None


async def create_link(
    session: AsyncSession, creator_id: str, spec: NewLink, target: Image | Album
) -> ShareLink:
    """A link to ``target``; a private target becomes shared (a link to what only
    its owner may see would open nothing)."""
    if spec.password is not None and len(spec.password) < MIN_LINK_PASSWORD_LENGTH:
        raise AppError(
            422,
            "weak_password",
            f"A link password must be at least {MIN_LINK_PASSWORD_LENGTH} characters long.",
        )
    now = utcnow()
    widened = visibility_after_sharing(target.visibility)
    if widened != target.visibility:
        target.visibility, target.updated_at = widened, now
    link = ShareLink(
        id=new_id("lnk"),
        image_id=target.id if isinstance(target, Image) else None,
        album_id=target.id if isinstance(target, Album) else None,
        created_by=creator_id,
        permissions=list(spec.permissions),
        password_hash=await hash_password(spec.password) if spec.password is not None else None,
        expires_at=now + dt.timedelta(seconds=spec.expires_in) if spec.expires_in else None,
        max_views=spec.max_views,
        views=0,
        created_at=now,
    )
    session.add(link)
    await session.flush()
    return link


async def links_of(
    session: AsyncSession, *, image_id: str | None = None, album_id: str | None = None
) -> list[ShareLink]:
    """Every link of one target, revoked and expired ones included, newest first."""
    where = (
        ShareLink.image_id == image_id if image_id is not None else ShareLink.album_id == album_id
    )
    rows = await session.scalars(
        select(ShareLink).where(where).order_by(ShareLink.created_at.desc(), ShareLink.id)
    )
    return list(rows)


async def get_link(session: AsyncSession, link_id: str) -> ShareLink | None:
    return await session.get(ShareLink, link_id)


async def revoke(session: AsyncSession, link: ShareLink) -> None:
    """Idempotent: revoking twice keeps the first time."""
    if link.revoked_at is None:
        link.revoked_at = utcnow()
        await session.flush()


# --- opening a link -------------------------------------------------------------


def check_usable(link: ShareLink, now: dt.datetime | None = None) -> None:
    """The 410 a link that can no longer be opened answers."""
    now = now or utcnow()
    if link.revoked_at is not None:
        raise AppError(410, "link_revoked", "This link was revoked by its owner.")
    if link.expires_at is not None and link.expires_at <= now:
        raise AppError(410, "link_expired", "This link has expired.")
    if link.max_views is not None and link.views >= link.max_views:
        raise AppError(410, "link_exhausted", "This link has been opened as often as allowed.")


async def load_target(session: AsyncSession, link: ShareLink) -> Image | Album:
    """The live image or album behind the link; 404 while the image is in the
    trash, 410 ``link_target_gone`` when there is nothing to see in it.

    Albums are deleted outright (their links go with them); images are
    soft-deleted first, and one that was quarantined or damaged (or failed before its
    scan passed) has nothing a link holder may see; one that failed after
    its scan passed is shared by its original.
    """
    if link.album_id is not None:
        album = await session.get(Album, link.album_id)
        if album is None:
            raise _gone()
        _check_not_private(album)
        return album
    assert link.image_id is not None
    image = await session.get(Image, link.image_id)
    if image is not None and image.deleted_at is not None:
        # In the trash: as if the link did not exist (a restore brings it back).
        raise AppError(404, "not_found", "Nothing is shared at this link.")
    if image is None or image.status in ("quarantined", "damaged"):
        raise _gone()
    # Taken down or its owner suspended: 451 before a view is counted.
    check_withheld(image.withheld)
    if image.status == "failed" and image.scan_status != "passed":
        raise _gone()
    if image.status not in ("ready", "failed"):
        raise AppError(
            409,
            "link_target_processing",
            "The shared image is still being processed; try again in a moment.",
            headers={"Retry-After": "2"},
        )
    _check_not_private(image)
    return image


async def withheld_target(session: AsyncSession, link_id: str) -> str | None:
    """Why the image behind an image link is withheld, if it is (the /s/ page)."""
    found = await session.scalar(
        select(Image.withheld)
        .join(ShareLink, ShareLink.image_id == Image.id)
        .where(ShareLink.id == link_id)
    )
    return found


def _check_not_private(target: Image | Album) -> None:
    """A private target's links are dormant: say so before a view is counted
    and a grant handed out that would open nothing."""
    if target.visibility not in GRANTED_VISIBILITIES:
        raise AppError(
            403,
            "link_target_private",
            "The owner has made what this link shares private; it opens again if they "
            "share it again.",
        )


def _gone() -> AppError:
    return AppError(410, "link_target_gone", "What this link shared no longer exists.")


class PasswordThrottle:
    """Failed password attempts per (link, client) and per link, in a moving window.

    One object per process (``THROTTLE`` below) with in-memory counters: with
    several workers each one counts on its own, so the effective limit is
    multiplied by the worker count. Shared counters (Redis storage) come with
    the rate-limit issue; the interface here stays the same.
    """

    def __init__(self, per_client: RateLimitItem, per_link: RateLimitItem) -> None:
        self.per_client = per_client
        self.per_link = per_link
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def _keys(self, link_id: str, client: str) -> list[tuple[RateLimitItem, tuple[str, ...]]]:
        return [
            (self.per_client, ("share-link-password", link_id, client)),
            (self.per_link, ("share-link-password", link_id)),
        ]

    def attempt(self, link_id: str, client: str) -> None:
        """Count one password attempt, or 429 while either window is full.

        Counted before the password is verified, so concurrent guesses cannot
        all pass between a check and a count; a right password costs an
        attempt too (its holder then has a grant for an hour). While
        throttled, a right guess cannot be told from a wrong one.
        """
        waits = [
            self.limiter.get_window_stats(item, *ids).reset_time - time.time()
            for item, ids in self._keys(link_id, client)
            if not self.limiter.hit(item, *ids)
        ]
        if waits:
            retry = max(1, math.ceil(max(waits)))
            raise AppError(
                429,
                "too_many_attempts",
                f"Too many wrong passwords for this link; try again in {retry} seconds.",
                headers={"Retry-After": str(retry)},
            )


THROTTLE = PasswordThrottle(RateLimitItemPerMinute(5), RateLimitItemPerMinute(20))


async def check_password(link: ShareLink, password: str | None, client: str) -> None:
    if link.password_hash is None:
        return
    if not password:
        raise AppError(
            401, "link_password_required", "This link is protected by a password: enter it."
        )
    THROTTLE.attempt(link.id, client)
    if not await verify_password(link.password_hash, password):
        raise AppError(403, "link_password_invalid", "That password is not right.")


async def count_view(session: AsyncSession, link: ShareLink) -> None:
    """One view, atomically: concurrent opens can never exceed ``max_views``,
    nor count on a link revoked or expired since it was read."""
    now = utcnow()
    result: Any = await session.execute(
        update(ShareLink)
        .where(
            ShareLink.id == link.id,
            ShareLink.revoked_at.is_(None),
            or_(ShareLink.expires_at.is_(None), ShareLink.expires_at > now),
            or_(ShareLink.max_views.is_(None), ShareLink.views < ShareLink.max_views),
        )
        .values(views=ShareLink.views + 1)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) == 1:
        return
    # Lost a race: say why from the row as it is now.
    await session.refresh(link)
    check_usable(link, now)
    raise AppError(410, "link_exhausted", "This link has been opened as often as allowed.")


def mint_grant(
    keys: SigningKeys, link: ShareLink, ttl: int, now: float | None = None
) -> tuple[str, dt.datetime]:
    """The grant token and when it expires: ``ttl`` from now, never past the link."""
    exp = int((now if now is not None else time.time()) + ttl)
    if link.expires_at is not None:
        exp = min(exp, int(link.expires_at.timestamp()))
    return mint_link_grant(keys, link.id, exp), dt.datetime.fromtimestamp(exp, dt.UTC)
