"""Organizations: creating them, their members by role, and invitations.

The public face of ``orgs`` for other features and the routes: the org
itself is here (create, list, rename, delete, its plan); the rest lives in
one module per idea and is re-exported below:

- ``access``: one org as one caller sees it (404 for orgs they cannot see,
  403 below the level an action needs).
- ``members``: members by role, the last-owner rule, removing and leaving.
- ``invitations``: invitations by user id or e-mail, and claiming them.

Services take the request's session and never commit; the route does. Who
may do what is ``access.policy``'s rule (``org_level``, ``may_assign_role``):
these modules gather the facts and ask it. Site administrators get the owner
level on every org from that policy, so here they act as owners.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.access.policy import Level
from imghost.auth.services import Actor
from imghost.cdn import services as cdn
from imghost.db import utcnow
from imghost.errors import Forbidden
from imghost.ids import new_id
from imghost.images import services as images
from imghost.orgs.access import Access, get_access
from imghost.orgs.invitations import (
    INVITATION_TTL,
    accept_invitation,
    decline_invitation,
    invite,
    list_org_invitations,
    my_invitations,
    revoke_invitation,
)
from imghost.orgs.members import (
    list_members,
    managers,
    remove_member,
    set_role,
    sole_owned_orgs,
)
from imghost.orgs.models import Org, OrgMember

__all__ = [
    "INVITATION_TTL",
    "Access",
    "accept_invitation",
    "create_org",
    "decline_invitation",
    "delete_org",
    "get_access",
    "invite",
    "list_members",
    "list_org_invitations",
    "list_orgs",
    "managers",
    "my_invitations",
    "plan_of",
    "plans_of",
    "remove_member",
    "rename_org",
    "revoke_invitation",
    "set_plan",
    "set_role",
    "sole_owned_orgs",
]


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
    await cdn.unpublished(session, await images.open_in_org(session, access.org.id))
    await session.execute(delete(Org).where(Org.id == access.org.id))


async def plan_of(session: AsyncSession, org_id: str) -> str | None:
    """The org's storage plan (None for no such org)."""
    return await session.scalar(select(Org.plan).where(Org.id == org_id))


async def plans_of(session: AsyncSession, org_ids: Collection[str]) -> dict[str, str]:
    """The plans of the orgs among ``org_ids`` that exist, in one read."""
    if not org_ids:
        return {}
    rows = await session.execute(select(Org.id, Org.plan).where(Org.id.in_(sorted(org_ids))))
    return {org_id: plan for org_id, plan in rows}


async def set_plan(session: AsyncSession, org_id: str, plan: str) -> bool:
    """Put the org on ``plan`` (flushed); False if there is no such org."""
    changed = await session.execute(
        update(Org)
        .where(Org.id == org_id)
        .values(plan=plan)
        .execution_options(synchronize_session=False)
    )
    return getattr(changed, "rowcount", 0) == 1
