"""Shares addressed to an e-mail address: invited now, granted once claimed.

Adding a collaborator by e-mail must answer the same whether or not an
account has the address, so the share never becomes a grant at once: it
waits in ``pending_shares`` and the address gets an e-mail either way. The
account that proves it holds the address (a verified e-mail) claims it:
``claim_pending_shares`` turns its pending shares into collaborator grants.
The owner learns who accepted when the grant shows in the collaborator
list, as with Google Drive's invitations, never from the answer to the share.

A pending share grants nothing; it expires after ``IMGHOST_SHARE_INVITE_TTL``,
or when the grant it carries would end (``grant_expires_at``, which the
claimed grant keeps), whichever comes first.
Services flush, never commit.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.access.policy import grant_live
from imghost.accounts import services as accounts
from imghost.accounts.models import User
from imghost.albums import services as albums
from imghost.db import utcnow
from imghost.errors import AppError
from imghost.ids import new_id
from imghost.images.models import Image
from imghost.notifications import services as notifications
from imghost.sharing import collaborators
from imghost.sharing.models import ImageCollaborator, PendingShare
from imghost.sharing.schemas import ShareInvited

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

TargetKind = Literal["image", "album"]


@dataclass(frozen=True)
class Target:
    """What is shared: one image or one album, with its title for the e-mail."""

    kind: TargetKind
    id: str
    title: str | None


def is_email(shared_with: str) -> bool:
    """Usernames cannot hold ``@`` and ids never do: an ``@`` means an address."""
    return "@" in shared_with


def normalized_email(text: str) -> str:
    """The address as ``users.email`` stores it; 422 ``invalid_email`` if it is none."""
    email = accounts.normalize_email(text)
    if not _EMAIL.match(email):
        raise AppError(422, "invalid_email", "That does not look like an email address.")
    return email


async def resolve_user(session: AsyncSession, shared_with: str) -> User:
    """A user named by id or username (404 ``not_found`` for neither)."""
    return await accounts.get_user_by_id_or_name(session, shared_with.strip())


async def invite(
    session: AsyncSession,
    target: Target,
    email: str,
    permission: str,
    invited_by: str,
    *,
    ttl: int,
    base_url: str,
    grant_expires_at: dt.datetime | None = None,
) -> PendingShare:
    """Record (or renew) the share for ``email`` and queue its e-mail.

    Never looks at whether an account has the address: what happens here, and
    so the answer and its timing, is the same either way. Asking again
    changes the permission and the grant's expiry and renews the invitation;
    the e-mail goes again only when the earlier one had expired, so repeating
    a share cannot flood an inbox. The invitation never outlives the grant
    it carries (``grant_expires_at``, None: until revoked).
    """
    now = utcnow()
    column = PendingShare.image_id if target.kind == "image" else PendingShare.album_id
    row = await session.scalar(
        select(PendingShare).where(column == target.id, PendingShare.email == email)
    )
    send = row is None or row.expires_at <= now
    if row is None:
        row = PendingShare(
            id=new_id("psh"),
            image_id=target.id if target.kind == "image" else None,
            album_id=target.id if target.kind == "album" else None,
            email=email,
            created_at=now,
        )
        session.add(row)
    row.permission, row.invited_by = permission, invited_by
    row.grant_expires_at = grant_expires_at
    row.expires_at = now + dt.timedelta(seconds=ttl)
    if grant_expires_at is not None:
        row.expires_at = min(row.expires_at, grant_expires_at)
    await session.flush()
    if send:
        who = await session.scalar(select(User.username).where(User.id == invited_by))
        name = f"“{target.title}”" if target.title else f"an {target.kind}"
        url = f"{base_url}/v1/{target.kind}s/{target.id}"
        ends = (
            f" The access ends {grant_expires_at:%Y-%m-%d %H:%M} UTC."
            if grant_expires_at is not None
            else ""
        )
        notifications.email_address(
            session,
            to=email,
            title=f"{who or 'Someone'} shared {name} with you",
            body=(
                f"{who or 'Someone'} gave {email} {permission} access to the {target.kind} "
                f"{name} on imghost.{ends}\n\n"
                f"Sign in (or sign up) at {base_url} with this address and verify it: the "
                f"share is then yours. It waits until "
                f"{row.expires_at:%Y-%m-%d %H:%M} UTC."
            ),
            url=url,
        )
    return row


async def list_for(session: AsyncSession, target: Target) -> list[PendingShare]:
    """The target's unexpired pending shares, oldest first (for its owner)."""
    column = PendingShare.image_id if target.kind == "image" else PendingShare.album_id
    rows = await session.scalars(
        select(PendingShare)
        .where(column == target.id, PendingShare.expires_at > utcnow())
        .order_by(PendingShare.created_at, PendingShare.id)
    )
    return list(rows)


async def invite_by_email(
    session: AsyncSession,
    target: Target,
    address: str,
    permission: str,
    invited_by: str,
    *,
    ttl: int,
    base_url: str,
    grant_expires_at: dt.datetime | None = None,
) -> ShareInvited:
    """The design's share with an e-mail address, for image and album routes
    alike: :func:`invite`, answered the same whether or not an account has it."""
    email = normalized_email(address)
    row = await invite(
        session,
        target,
        email,
        permission,
        invited_by,
        ttl=ttl,
        base_url=base_url,
        grant_expires_at=grant_expires_at,
    )
    return ShareInvited(
        shared_with=email,
        permission=row.permission,
        expires_at=row.expires_at,
        grant_expires_at=row.grant_expires_at,
    )


async def revoke(session: AsyncSession, target: Target, email: str) -> bool:
    """Withdraw the share addressed to ``email``; False if there was none."""
    column = PendingShare.image_id if target.kind == "image" else PendingShare.album_id
    result = await session.execute(
        delete(PendingShare).where(
            column == target.id, PendingShare.email == accounts.normalize_email(email)
        )
    )
    return bool(getattr(result, "rowcount", 0))


async def claim_pending_shares(session: AsyncSession, user_id: str, email: str) -> int:
    """Turn the pending shares addressed to ``email`` into grants for ``user_id``.

    Call it only once the user has proved they hold ``email`` (it is verified):
    at verification, and at sign-in for an address verified earlier. Each
    pending share goes, whatever becomes of it, so a second call does nothing
    (idempotent). An expired one grants nothing; neither does one for the
    user's own image or album, nor one the target's rules refuse (an org
    album's non-member). A grant the user already holds is kept as it is:
    the owner's later word wins over an older invitation (an expired grant
    is no grant: the claim replaces it). The claimed grant keeps the expiry
    the share carried. Returns how many
    grants were added. Flushes, never commits.
    """
    now = utcnow()
    rows = list(
        await session.scalars(
            select(PendingShare)
            .where(PendingShare.email == accounts.normalize_email(email))
            .order_by(PendingShare.created_at, PendingShare.id)
            .with_for_update()
        )
    )
    added = 0
    for row in rows:
        if row.expires_at > now:
            if row.image_id is not None:
                added += await _claim_image(session, row, user_id)
            elif row.album_id is not None:
                added += await albums.grant_claimed(
                    session,
                    row.album_id,
                    user_id,
                    row.permission,
                    row.invited_by,
                    row.grant_expires_at,
                )
        await session.delete(row)
    await session.flush()
    return added


async def claim_if_verified(session: AsyncSession, user_id: str) -> int:
    """At sign-in (and token refresh): claim what was shared with the user's
    address, if they have verified it. An e-mail share to an address that
    already had a verified account waits for this, so its owner learns nothing
    at the time of sharing. Flushes, never commits."""
    user = await session.get(User, user_id)
    if user is None or user.email_verified_at is None:
        return 0
    return await claim_pending_shares(session, user.id, user.email)


async def _claim_image(session: AsyncSession, row: PendingShare, user_id: str) -> int:
    assert row.image_id is not None
    image = await session.get(Image, row.image_id)
    if image is None or image.owner_id == user_id:
        return 0
    held = await session.get(ImageCollaborator, (image.id, user_id))
    if held is not None and grant_live(held.expires_at, utcnow()):
        return 0
    await collaborators.grant(
        session,
        image,
        user_id,
        row.permission,
        row.invited_by or image.owner_id,
        row.grant_expires_at,
    )
    return 1
