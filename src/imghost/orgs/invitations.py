"""Invitations to join an org: by user id or by e-mail address, for 14 days.

Invitations not addressed to the caller, expired or gone all get the same
404, so their ids reveal nothing.

An email invitation is never found by address alone: it is never listed to
anyone but the org's managers, and it is accepted (or declined) only by
presenting its id (128 random bits, which the inviter passes on) from an
account with that address that has verified it (``accounts.services.is_verified``).

An invitation stands only while its sender still manages the org
(``drop_invitations_sent_by``, which the member changes call).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.access.policy import Level, may_assign_role
from imghost.accounts.models import User
from imghost.accounts.services import is_verified, normalize_email, unverified
from imghost.auth.services import Actor
from imghost.db import utcnow
from imghost.errors import AppError, Forbidden, NotFound
from imghost.ids import new_id
from imghost.notifications import shares
from imghost.orgs.access import get_access, role_of
from imghost.orgs.models import Org, OrgInvitation, OrgMember

INVITATION_TTL = dt.timedelta(days=14)

_NO_INVITATION = "No such invitation: it may have expired or been revoked."


async def invite(
    session: AsyncSession,
    actor: Actor,
    org_id: str,
    *,
    user_id: str | None,
    email: str | None,
    role: str,
) -> tuple[OrgInvitation, Org]:
    """Invite a user (by id) or an email address to join with ``role`` for 14 days.

    An email invitation is stored as given (lower-cased) and never resolved
    to an account here, so it does not reveal whether the address has one.
    The invitation id is e-mailed to the address (when SMTP is configured) or
    passed on by the inviter; only an account with that address that presents
    the id can accept it.
    """
    access = await get_access(session, actor, org_id, Level.OWNER, lock=True)
    if not may_assign_role(access.acting_role, None, role):
        raise Forbidden("Only owners can invite owners.")
    address: ColumnElement[bool]
    if user_id is not None:
        if await session.scalar(select(User.id).where(User.id == user_id)) is None:
            raise AppError(404, "user_not_found", "No user has that id.")
        address = OrgInvitation.user_id == user_id
        member = await role_of(session, org_id, user_id)
    else:
        assert email is not None
        email = normalize_email(email)
        address = OrgInvitation.email == email
        member = await session.scalar(
            select(OrgMember.role)
            .join(User, User.id == OrgMember.user_id)
            .where(OrgMember.org_id == org_id, User.email == email)
        )
    if member is not None:
        raise AppError(409, "already_member", "That person is already a member of this org.")
    now = utcnow()
    # An expired invitation to the same address is replaced; a pending one stands.
    await session.execute(
        delete(OrgInvitation).where(
            OrgInvitation.org_id == org_id, address, OrgInvitation.expires_at <= now
        )
    )
    pending = await session.scalar(
        select(OrgInvitation.id).where(OrgInvitation.org_id == org_id, address)
    )
    if pending is not None:
        raise AppError(
            409,
            "already_invited",
            "That person already has a pending invitation; revoke it to send another.",
            invitationId=pending,
        )
    invitation = OrgInvitation(
        id=new_id("inv"),
        org_id=org_id,
        user_id=user_id,
        email=email if user_id is None else None,
        role=role,
        invited_by=actor.user_id,
        created_at=now,
        expires_at=now + INVITATION_TTL,
    )
    session.add(invitation)
    await session.flush()
    if user_id is not None:
        # Only invitations by user id: an email invitation is never matched to
        # an account (that would reveal whether the address has one).
        await shares.org_invited(
            session,
            invitation_id=invitation.id,
            org_id=org_id,
            org_name=access.org.name,
            user_id=user_id,
            role=role,
            invited_by=actor.user_id,
            expires_at=invitation.expires_at,
        )
    else:
        shares.org_invited_by_email(session, invitation_id=invitation.id)
    return invitation, access.org


async def list_org_invitations(
    session: AsyncSession, actor: Actor, org_id: str
) -> tuple[list[OrgInvitation], Org]:
    """The org's pending (unexpired) invitations, oldest first."""
    access = await get_access(session, actor, org_id, Level.OWNER)
    invitations = await session.scalars(
        select(OrgInvitation)
        .where(OrgInvitation.org_id == org_id, OrgInvitation.expires_at > utcnow())
        .order_by(OrgInvitation.created_at, OrgInvitation.id)
    )
    return list(invitations), access.org


async def revoke_invitation(
    session: AsyncSession, actor: Actor, org_id: str, invitation_id: str
) -> None:
    access = await get_access(session, actor, org_id, Level.OWNER)
    invitation = await session.scalar(
        select(OrgInvitation).where(
            OrgInvitation.id == invitation_id, OrgInvitation.org_id == org_id
        )
    )
    if invitation is None:
        raise NotFound(_NO_INVITATION)
    if not may_assign_role(access.acting_role, None, invitation.role):
        raise Forbidden("Only owners can revoke an invitation to become owner.")
    await session.delete(invitation)
    await session.flush()


async def drop_invitations_sent_by(session: AsyncSession, org_id: str, user_id: str) -> None:
    """An invitation stands only while its sender still manages the org."""
    await session.execute(
        delete(OrgInvitation).where(
            OrgInvitation.org_id == org_id, OrgInvitation.invited_by == user_id
        )
    )


async def my_invitations(session: AsyncSession, actor: Actor) -> list[tuple[OrgInvitation, Org]]:
    """Pending invitations addressed to the caller's user id.

    Never those addressed to the caller's email: addresses are unverified, so
    an email invitation is found only through its id (see ``accept_invitation``).
    """
    rows = await session.execute(
        select(OrgInvitation, Org)
        .join(Org, Org.id == OrgInvitation.org_id)
        .where(OrgInvitation.user_id == actor.user_id, OrgInvitation.expires_at > utcnow())
        .order_by(OrgInvitation.created_at, OrgInvitation.id)
    )
    return [(invitation, org) for invitation, org in rows]


async def accept_invitation(
    session: AsyncSession, actor: Actor, invitation_id: str
) -> tuple[Org, OrgMember]:
    """Join the org with the invited role; the caller's invitations to it are used up.

    The id is what proves an email invitation was passed to the caller: one
    addressed to the caller's user id, or to their email address, is
    accepted by id; anything else answers the missing-invitation 404.
    """
    addressed = await _addressed_to(session, actor)
    invitation = await _pending_for(session, addressed, invitation_id)
    await _claimable(session, actor, invitation)
    if await role_of(session, invitation.org_id, actor.user_id) is not None:
        raise _already_member()
    member = OrgMember(org_id=invitation.org_id, user_id=actor.user_id, role=invitation.role)
    session.add(member)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:  # a concurrent accept won the race
        raise _already_member() from exc
    await session.execute(
        delete(OrgInvitation).where(OrgInvitation.org_id == invitation.org_id, addressed)
    )
    org = await session.get(Org, invitation.org_id)
    assert org is not None  # the membership row references it
    return org, member


async def decline_invitation(session: AsyncSession, actor: Actor, invitation_id: str) -> None:
    invitation = await _pending_for(session, await _addressed_to(session, actor), invitation_id)
    await _claimable(session, actor, invitation)
    await session.delete(invitation)
    await session.flush()


async def _claimable(session: AsyncSession, actor: Actor, invitation: OrgInvitation) -> None:
    """An invitation sent to an e-mail address is the address owner's: only an
    account that proved it owns the address (403 ``email_unverified``) may accept
    or decline it, not whoever signed up with it first."""
    if invitation.email is not None and not await is_verified(session, actor.user_id):
        raise unverified()


async def _addressed_to(session: AsyncSession, actor: Actor) -> ColumnElement[bool]:
    """Matches the caller's invitations; only ever used together with an invitation id
    (or to clear an org's invitations on joining), never to list them."""
    # Read the address fresh rather than from the actor's (possibly expired) user object.
    email = await session.scalar(select(User.email).where(User.id == actor.user_id))
    return or_(OrgInvitation.user_id == actor.user_id, OrgInvitation.email == email)


async def _pending_for(
    session: AsyncSession, addressed: ColumnElement[bool], invitation_id: str
) -> OrgInvitation:
    invitation = await session.scalar(
        select(OrgInvitation).where(
            OrgInvitation.id == invitation_id, addressed, OrgInvitation.expires_at > utcnow()
        )
    )
    if invitation is None:
        raise NotFound(_NO_INVITATION)
    return invitation


def _already_member() -> AppError:
    return AppError(409, "already_member", "You are already a member of this org.")
