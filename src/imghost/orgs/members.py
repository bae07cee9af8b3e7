"""An org's members by role: listing them, changing roles, removing (or leaving).

Who may assign which role is ``access.policy``'s rule (``may_assign_role``);
site administrators act as owners. An org always keeps an owner
(``_keep_an_owner``, 409 ``last_owner``).

What a membership carries ends with it: removing a member (or leaving) also
drops their grants on the org's albums, and a manager who is removed, leaves
or stops being one takes their pending invitations to the org with them.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.access.policy import MANAGING_ROLES, Level, may_assign_role, org_level
from imghost.accounts.models import User
from imghost.albums import services as albums
from imghost.auth.services import Actor
from imghost.errors import AppError, Forbidden
from imghost.orgs.access import MANAGERS_ONLY, get_access
from imghost.orgs.invitations import drop_invitations_sent_by
from imghost.orgs.models import OrgMember


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
            await drop_invitations_sent_by(session, org_id, user_id)
    return target, username


async def remove_member(session: AsyncSession, actor: Actor, org_id: str, user_id: str) -> None:
    """Remove a member, or leave (any member may remove themself).

    In the same transaction their grants on the org's albums go, and so do
    the invitations to the org they sent as a manager.
    """
    leaving = user_id == actor.user_id
    access = await get_access(session, actor, org_id, lock=True)
    if not leaving and access.level < Level.OWNER:
        raise Forbidden(MANAGERS_ONLY)
    target, _ = await _member(session, org_id, user_id)
    if not leaving and not may_assign_role(access.acting_role, target.role, None):
        raise Forbidden("Admins cannot remove an owner.")
    await session.delete(target)
    await session.flush()
    if target.role == "owner":
        await _keep_an_owner(session, org_id)
    await albums.drop_org_grants(session, org_id, user_id)
    if _manages(target.role):
        await drop_invitations_sent_by(session, org_id, user_id)


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
