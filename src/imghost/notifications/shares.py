"""Share notifications: what sharing and orgs call when a grant is created.

Each runs in the granting request's transaction (through ``notify``), so
the notification exists exactly when the grant does. Granting someone a
permission they already had, or changing it, tells them nothing new.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.accounts.models import User
from imghost.jobs import queue
from imghost.notifications.services import EMAIL_MAX_ATTEMPTS, INVITATION_EMAIL_JOB, notify
from imghost.schemas import format_timestamp


async def _username(session: AsyncSession, user_id: str | None) -> str:
    if user_id is None:
        return "Someone"
    name = await session.scalar(select(User.username).where(User.id == user_id))
    return name or "Someone"


def _quoted(title: str | None, fallback: str) -> str:
    return f"“{title}”" if title else fallback


async def image_shared(
    session: AsyncSession,
    *,
    image_id: str,
    image_title: str | None,
    user_id: str,
    permission: str,
    granted_by: str,
) -> None:
    await _shared(session, "image", image_id, image_title, user_id, permission, granted_by)


async def album_shared(
    session: AsyncSession,
    *,
    album_id: str,
    album_title: str | None,
    user_id: str,
    permission: str,
    granted_by: str | None,
) -> None:
    await _shared(session, "album", album_id, album_title, user_id, permission, granted_by)


async def _shared(
    session: AsyncSession,
    what: Literal["image", "album"],
    target_id: str,
    target_title: str | None,
    user_id: str,
    permission: str,
    granted_by: str | None,
) -> None:
    """``share.image`` / ``share.album``: one shape, the target named by id."""
    who = await _username(session, granted_by)
    await notify(
        session,
        user_id=user_id,
        kind=f"share.{what}",
        title=f"{who} shared an {what} with you",
        body=f"{who} gave you {permission} access to the {what} "
        f"{_quoted(target_title, target_id)}.",
        data={
            f"{what}Id": target_id,
            "permission": permission,
            "sharedBy": granted_by,
            "sharedByUsername": who,
        },
    )


async def org_invited(
    session: AsyncSession,
    *,
    invitation_id: str,
    org_id: str,
    org_name: str,
    user_id: str,
    role: str,
    invited_by: str,
    expires_at: dt.datetime,
) -> None:
    who = await _username(session, invited_by)
    await notify(
        session,
        user_id=user_id,
        kind="org.invitation",
        title=f"{who} invited you to {org_name}",
        body=f"{who} invited you to join the organization {org_name} as {role}. "
        f"Accept or decline before {expires_at:%Y-%m-%d %H:%M} UTC "
        f"(POST /v1/invitations/{invitation_id}/accept or /decline).",
        data={
            "invitationId": invitation_id,
            "orgId": org_id,
            "orgName": org_name,
            "role": role,
            "invitedBy": invited_by,
            "invitedByUsername": who,
            "expiresAt": format_timestamp(expires_at),
        },
    )


def org_invited_by_email(session: AsyncSession, *, invitation_id: str) -> None:
    """Queue the e-mail of an invitation addressed to an e-mail address.

    It goes to the address whether or not an account has it, so sending
    reveals nothing; the mail carries the invitation id the invitee presents.
    """
    queue.enqueue(
        session,
        INVITATION_EMAIL_JOB,
        {"invitationId": invitation_id},
        max_attempts=EMAIL_MAX_ATTEMPTS,
    )
