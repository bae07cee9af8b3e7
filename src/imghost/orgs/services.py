"""Organizations: creating them, their members by role, and invitations.

Services take the request's session and never commit; the route does. Who
may do what is ``access.policy``'s rule (``org_level``, ``may_assign_role``):
this module gathers the facts and asks it. Site administrators get the owner
level on every org from that policy, so here they act as owners.

Orgs the caller cannot see answer 404 exactly like missing ones, so their
ids reveal nothing. Invitations not addressed to the caller, expired or gone
all get the same 404 too.

An email invitation is never found by address alone: it is never listed to
anyone but the org's managers, and it is accepted (or declined) only by
presenting its id (128 random bits, which the inviter passes on) from an
account with that address that has verified it (``accounts.services.is_verified``).

What a membership carries ends with it: removing a member (or leaving) also
drops their grants on the org's albums, and a manager who is removed, leaves
or stops being one takes their pending invitations to the org with them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.access.policy import MANAGING_ROLES, Level, may_assign_role, org_level
from imghost.accounts.models import User
from imghost.accounts.services import is_verified, normalize_email, unverified
from imghost.albums import services as albums
from imghost.auth.services import Actor
from imghost.db import utcnow
from imghost.errors import AppError, Forbidden, NotFound
from imghost.ids import new_id
from imghost.notifications import shares
from imghost.orgs.models import Org, OrgInvitation, OrgMember

INVITATION_TTL = dt.timedelta(days=14)

_NO_ORG = "No such org."
_NO_INVITATION = "No such invitation: it may have expired or been revoked."
_MANAGERS_ONLY = "Only the org's owners and admins can manage its members and invitations."


@dataclass(frozen=True)
class Access:
    """One org as one caller sees it."""

    org: Org
    role: str | None  # the caller's membership; None for a site admin who is not a member
    admin: bool

    @property
    def level(self) -> Level:
        return org_level(self.role, self.admin)

    @property
    def acting_role(self) -> str | None:
        """The role member management is judged by: site admins act as owners."""
        return "owner" if self.admin else self.role


async def get_access(
    session: AsyncSession,
    actor: Actor,
    org_id: str,
    need: Level = Level.VIEW,
    refusal: str = _MANAGERS_ONLY,
    *,
    lock: bool = False,
) -> Access:
    """The org and the caller's role in it: 404 if they may not see it, 403 below ``need``.

    ``lock`` serializes changes to one org's membership on PostgreSQL (the
    last-owner check must see every concurrent demotion); SQLite serializes
    writers anyway, and the check runs after the write (see ``_keep_an_owner``).
    """
    query = select(Org).where(Org.id == org_id)
    if lock:
        # FOR NO KEY UPDATE: does not block inserts that only reference the org.
        query = query.with_for_update(key_share=True)
    org = await session.scalar(query)
    if org is None:
        raise NotFound(_NO_ORG)
    access = Access(org, await _role_of(session, org_id, actor.user_id), actor.is_admin)
    if access.level == Level.NONE:
        raise NotFound(_NO_ORG)
    if access.level < need:
        raise Forbidden(refusal)
    return access


async def _role_of(session: AsyncSession, org_id: str, user_id: str) -> str | None:
    return await session.scalar(
        select(OrgMember.role).where(OrgMember.org_id == org_id, OrgMember.user_id == user_id)
    )


# --- orgs ----------------------------------------------------------------------------------


async def create_org(session: AsyncSession, actor: Actor, name: str) -> tuple[Org, OrgMember]:
    """A new org with the caller as its first owner."""
    now = utcnow()
    org = Org(id=new_id("org"), name=name, created_by=actor.user_id, created_at=now)
    owner = OrgMember(org_id=org.id, user_id=actor.user_id, role="owner", created_at=now)
    session.add(org)
    await session.flush()  # the org row first: the membership references it
    session.add(owner)
    await session.flush()
    return org, owner


async def list_orgs(session: AsyncSession, actor: Actor) -> list[tuple[Org, str]]:
    """The orgs the caller belongs to, with their role (oldest first)."""
    rows = await session.execute(
        select(Org, OrgMember.role)
        .join(OrgMember, OrgMember.org_id == Org.id)
        .where(OrgMember.user_id == actor.user_id)
        .order_by(Org.created_at, Org.id)
    )
    return [(org, role) for org, role in rows]


async def rename_org(session: AsyncSession, actor: Actor, org_id: str, name: str) -> Access:
    access = await get_access(
        session, actor, org_id, Level.OWNER, "Only the org's owners and admins can rename it."
    )
    access.org.name = name
    await session.flush()
    return access


async def delete_org(session: AsyncSession, actor: Actor, org_id: str) -> None:
    """Delete the org, and with it everything in its namespace.

    The org's images and albums go with it: their rows (and members,
    invitations, collaborators, album entries, share links) are removed by
    the database's ON DELETE CASCADE, and ``gc`` reclaims the stored
    originals that no longer have a row. There is no undo.
    """
    access = await get_access(session, actor, org_id)
    if access.acting_role != "owner":
        raise Forbidden("Only an owner can delete the org.")
    await session.execute(delete(Org).where(Org.id == access.org.id))


async def plan_of(session: AsyncSession, org_id: str) -> str | None:
    """The org's storage plan (None for no such org)."""
    return await session.scalar(select(Org.plan).where(Org.id == org_id))


async def set_plan(session: AsyncSession, org_id: str, plan: str) -> bool:
    """Put the org on ``plan`` (flushed); False if there is no such org."""
    changed = await session.execute(
        update(Org)
        .where(Org.id == org_id)
        .values(plan=plan)
        .execution_options(synchronize_session=False)
    )
    return getattr(changed, "rowcount", 0) == 1


# --- members -------------------------------------------------------------------------------


async def list_members(
    session: AsyncSession, actor: Actor, org_id: str
) -> list[tuple[OrgMember, str]]:
    await get_access(session, actor, org_id)
    rows = await session.execute(
        select(OrgMember, User.username)
        .join(User, User.id == OrgMember.user_id)
        .where(OrgMember.org_id == org_id)
        .order_by(OrgMember.created_at, OrgMember.user_id)
    )
    return [(member, username) for member, username in rows]


async def set_role(
    session: AsyncSession, actor: Actor, org_id: str, user_id: str, role: str
) -> tuple[OrgMember, str]:
    """Change an existing member's role; returns the member and their username."""
    access = await get_access(session, actor, org_id, Level.OWNER, lock=True)
    target, username = await _member(session, org_id, user_id)
    if not may_assign_role(access.acting_role, target.role, role):
        raise Forbidden("Admins cannot change an owner's role or make anyone an owner.")
    if target.role != role:
        was_owner = target.role == "owner"
        was_manager = _manages(target.role)
        target.role = role
        await session.flush()
        if was_owner:
            await _keep_an_owner(session, org_id)
        if was_manager and not _manages(role):
            await _drop_invitations_sent_by(session, org_id, user_id)
    return target, username


async def remove_member(session: AsyncSession, actor: Actor, org_id: str, user_id: str) -> None:
    """Remove a member, or leave (any member may remove themself).

    In the same transaction their grants on the org's albums go, and so do
    the invitations to the org they sent as a manager.
    """
    leaving = user_id == actor.user_id
    access = await get_access(session, actor, org_id, lock=True)
    if not leaving and access.level < Level.OWNER:
        raise Forbidden(_MANAGERS_ONLY)
    target, _ = await _member(session, org_id, user_id)
    if not leaving and not may_assign_role(access.acting_role, target.role, None):
        raise Forbidden("Admins cannot remove an owner.")
    await session.delete(target)
    await session.flush()
    if target.role == "owner":
        await _keep_an_owner(session, org_id)
    await albums.drop_org_grants(session, org_id, user_id)
    if _manages(target.role):
        await _drop_invitations_sent_by(session, org_id, user_id)


async def managers(session: AsyncSession, org_id: str) -> list[str]:
    """The ids of the org's owners and admins."""
    return list(
        await session.scalars(
            select(OrgMember.user_id).where(
                OrgMember.org_id == org_id, OrgMember.role.in_(MANAGING_ROLES)
            )
        )
    )


def _manages(role: str) -> bool:
    """Whether the role may send invitations (and so whether it has sent any)."""
    return org_level(role) >= Level.OWNER


async def _drop_invitations_sent_by(session: AsyncSession, org_id: str, user_id: str) -> None:
    """An invitation stands only while its sender still manages the org."""
    await session.execute(
        delete(OrgInvitation).where(
            OrgInvitation.org_id == org_id, OrgInvitation.invited_by == user_id
        )
    )


async def _member(session: AsyncSession, org_id: str, user_id: str) -> tuple[OrgMember, str]:
    row = (
        await session.execute(
            select(OrgMember, User.username)
            .join(User, User.id == OrgMember.user_id)
            .where(OrgMember.org_id == org_id, OrgMember.user_id == user_id)
        )
    ).first()
    if row is None:
        raise AppError(
            404,
            "not_a_member",
            "That user is not a member of this org; invite them with "
            f"POST /v1/orgs/{org_id}/invitations.",
        )
    return row[0], row[1]


async def sole_owned_orgs(session: AsyncSession, user_id: str) -> list[str]:
    """Ids of the orgs whose only owner is ``user_id`` (an account deletion must
    not leave an org without an owner)."""
    owners = (
        select(OrgMember.org_id)
        .where(OrgMember.role == "owner")
        .group_by(OrgMember.org_id)
        .having(func.count() == 1)
        .subquery()
    )
    rows = await session.scalars(
        select(OrgMember.org_id)
        .join(owners, owners.c.org_id == OrgMember.org_id)
        .where(OrgMember.user_id == user_id, OrgMember.role == "owner")
        .order_by(OrgMember.org_id)
    )
    return list(rows)


async def _keep_an_owner(session: AsyncSession, org_id: str) -> None:
    """Refuse a change that left the org without an owner.

    Checked after the (flushed, uncommitted) write: inside the write
    transaction, with the org row locked on PostgreSQL, no concurrent
    demotion can slip between the count and the commit.
    """
    owners = await session.scalar(
        select(func.count())
        .select_from(OrgMember)
        .where(OrgMember.org_id == org_id, OrgMember.role == "owner")
    )
    if not owners:
        raise AppError(
            409,
            "last_owner",
            "An org must keep at least one owner: make another member owner first, "
            "or delete the org.",
        )


# --- invitations ---------------------------------------------------------------------------


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
        member = await _role_of(session, org_id, user_id)
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
    if await _role_of(session, invitation.org_id, actor.user_id) is not None:
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
