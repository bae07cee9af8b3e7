"""One org as one caller sees it: the org, the caller's role, and the level it gives.

Who may do what is ``access.policy``'s rule (``org_level``): this module
gathers the facts and asks it. Site administrators get the owner level on
every org from that policy, so the org's services let them act as owners.

Orgs the caller cannot see answer 404 exactly like missing ones, so their
ids reveal nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.access.policy import Level, org_level
from imghost.auth.services import Actor
from imghost.errors import Forbidden, NotFound
from imghost.orgs.models import Org, OrgMember

NO_ORG = "No such org."
MANAGERS_ONLY = "Only the org's owners and admins can manage its members and invitations."


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
    refusal: str = MANAGERS_ONLY,
    *,
    lock: bool = False,
) -> Access:
    """The org and the caller's role in it: 404 if they may not see it, 403 below ``need``.

    ``lock`` serializes changes to one org's membership on PostgreSQL (the
    last-owner check must see every concurrent demotion); SQLite serializes
    writers anyway, and the check runs after the write (see
    ``members._keep_an_owner``).
    """
    query = select(Org).where(Org.id == org_id)
    if lock:
        # FOR NO KEY UPDATE: does not block inserts that only reference the org.
        query = query.with_for_update(key_share=True)
    org = await session.scalar(query)
    if org is None:
        raise NotFound(NO_ORG)
    access = Access(org, await role_of(session, org_id, actor.user_id), actor.is_admin)
    if access.level == Level.NONE:
        raise NotFound(NO_ORG)
    if access.level < need:
        raise Forbidden(refusal)
    return access


async def role_of(session: AsyncSession, org_id: str, user_id: str) -> str | None:
    """The user's role in the org; None if they are not a member."""
    return await session.scalar(
        select(OrgMember.role).where(OrgMember.org_id == org_id, OrgMember.user_id == user_id)
    )
