"""Routes for organizations, their members and invitations (rules in ``orgs.services``)."""

from __future__ import annotations

from typing import cast

from fastapi import APIRouter, Response

from imghost.audit import services as audit
from imghost.deps import CurrentActor, Db
from imghost.orgs import services as orgs
from imghost.orgs.models import Org, OrgInvitation, OrgMember
from imghost.orgs.schemas import (
    InvitationIn,
    InvitationList,
    InvitationOut,
    MemberList,
    MemberOut,
    OrgIn,
    OrgList,
    OrgOut,
    OrgRole,
    RoleIn,
)

router = APIRouter(tags=["orgs"])


def org_out(org: Org, role: str | None) -> OrgOut:
    return OrgOut(
        org_id=org.id, name=org.name, created_at=org.created_at, role=_role(role) if role else None
    )


def member_out(member: OrgMember, username: str) -> MemberOut:
    return MemberOut(
        user_id=member.user_id,
        username=username,
        role=_role(member.role),
        joined_at=member.created_at,
    )


def invitation_out(invitation: OrgInvitation, org: Org) -> InvitationOut:
    return InvitationOut(
        invitation_id=invitation.id,
        org_id=org.id,
        org_name=org.name,
        role=_role(invitation.role),
        user_id=invitation.user_id,
        email=invitation.email,
        invited_by=invitation.invited_by,
        created_at=invitation.created_at,
        expires_at=invitation.expires_at,
    )


def _role(value: str) -> OrgRole:
    # Stored roles were validated on the way in; pydantic checks them again here.
    return cast(OrgRole, value)


@router.post("/v1/orgs", response_model=OrgOut, status_code=201)
async def create_org(body: OrgIn, actor: CurrentActor, db: Db) -> OrgOut:
    """Create an org; the caller becomes its owner."""
    org, owner = await orgs.create_org(db, actor, body.name)
    await db.commit()
    return org_out(org, owner.role)


@router.get("/v1/orgs", response_model=OrgList)
async def list_orgs(actor: CurrentActor, db: Db) -> OrgList:
    """The orgs the caller belongs to, with the caller's role in each."""
    return OrgList(orgs=[org_out(org, role) for org, role in await orgs.list_orgs(db, actor)])


@router.get("/v1/orgs/{org_id}", response_model=OrgOut)
async def get_org(org_id: str, actor: CurrentActor, db: Db) -> OrgOut:
    """Any member sees the org; everyone else gets 404, as for a missing org."""
    access = await orgs.get_access(db, actor, org_id)
    return org_out(access.org, access.role)


@router.patch("/v1/orgs/{org_id}", response_model=OrgOut)
async def rename_org(org_id: str, body: OrgIn, actor: CurrentActor, db: Db) -> OrgOut:
    """Rename the org (owners and admins)."""
    access = await orgs.rename_org(db, actor, org_id, body.name)
    await db.commit()
    return org_out(access.org, access.role)


@router.delete("/v1/orgs/{org_id}", status_code=204, response_class=Response)
async def delete_org(org_id: str, actor: CurrentActor, db: Db) -> Response:
    """Delete the org (owners only). Its images and albums are deleted with it."""
    await orgs.delete_org(db, actor, org_id)
    await db.commit()
    return Response(status_code=204)


@router.get("/v1/orgs/{org_id}/members", response_model=MemberList)
async def list_members(org_id: str, actor: CurrentActor, db: Db) -> MemberList:
    rows = await orgs.list_members(db, actor, org_id)
    return MemberList(members=[member_out(m, username) for m, username in rows])


@router.put("/v1/orgs/{org_id}/members/{user_id}", response_model=MemberOut)
async def set_member_role(
    org_id: str, user_id: str, body: RoleIn, actor: CurrentActor, db: Db
) -> MemberOut:
    """Change a member's role. New people join through invitations. An owner or
    admin made member or viewer loses the pending invitations they sent."""
    member, username = await orgs.set_role(db, actor, org_id, user_id, body.role)
    await audit.record(
        db,
        "org.role_changed",
        actor_id=actor.user_id,
        target=("org", org_id),
        details={"userId": user_id, "role": body.role},
    )
    await db.commit()
    return member_out(member, username)


@router.delete("/v1/orgs/{org_id}/members/{user_id}", status_code=204, response_class=Response)
async def remove_member(org_id: str, user_id: str, actor: CurrentActor, db: Db) -> Response:
    """Remove a member, or leave the org (your own user id). Their grants on the
    org's albums go too, and a manager's pending invitations to the org."""
    await orgs.remove_member(db, actor, org_id, user_id)
    await audit.record(
        db,
        "org.role_changed",
        actor_id=actor.user_id,
        target=("org", org_id),
        details={"userId": user_id, "role": None},
    )
    await db.commit()
    return Response(status_code=204)


@router.post("/v1/orgs/{org_id}/invitations", response_model=InvitationOut, status_code=201)
async def invite(org_id: str, body: InvitationIn, actor: CurrentActor, db: Db) -> InvitationOut:
    """Invite a user by id or an email address; the invitation lasts 14 days."""
    invitation, org = await orgs.invite(
        db, actor, org_id, user_id=body.user_id, email=body.email, role=body.role
    )
    await db.commit()
    return invitation_out(invitation, org)


@router.get("/v1/orgs/{org_id}/invitations", response_model=InvitationList)
async def list_org_invitations(org_id: str, actor: CurrentActor, db: Db) -> InvitationList:
    invitations, org = await orgs.list_org_invitations(db, actor, org_id)
    return InvitationList(invitations=[invitation_out(i, org) for i in invitations])


@router.delete(
    "/v1/orgs/{org_id}/invitations/{invitation_id}", status_code=204, response_class=Response
)
async def revoke_invitation(
    org_id: str, invitation_id: str, actor: CurrentActor, db: Db
) -> Response:
    await orgs.revoke_invitation(db, actor, org_id, invitation_id)
    await db.commit()
    return Response(status_code=204)


@router.get("/v1/users/me/invitations", response_model=InvitationList)
async def my_invitations(actor: CurrentActor, db: Db) -> InvitationList:
    """Pending invitations addressed to the caller's user id.

    Email invitations are never listed here (addresses are unverified): the
    inviter passes their id on, and the account with that address accepts by id.
    """
    rows = await orgs.my_invitations(db, actor)
    return InvitationList(invitations=[invitation_out(i, org) for i, org in rows])


@router.post("/v1/invitations/{invitation_id}/accept", response_model=OrgOut)
async def accept_invitation(invitation_id: str, actor: CurrentActor, db: Db) -> OrgOut:
    """Join the org with the invited role: an invitation to the caller's user id,
    or to their email address (the id, passed on by the inviter, is the secret)."""
    org, member = await orgs.accept_invitation(db, actor, invitation_id)
    await audit.record(
        db,
        "org.role_changed",
        actor_id=actor.user_id,
        target=("org", org.id),
        details={"userId": actor.user_id, "role": member.role, "invitationId": invitation_id},
    )
    await db.commit()
    return org_out(org, member.role)


@router.post("/v1/invitations/{invitation_id}/decline", status_code=204, response_class=Response)
async def decline_invitation(invitation_id: str, actor: CurrentActor, db: Db) -> Response:
    """Refuse an invitation, addressed as for accepting it."""
    await orgs.decline_invitation(db, actor, invitation_id)
    await db.commit()
    return Response(status_code=204)
