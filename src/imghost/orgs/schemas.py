"""Request and response bodies for organizations, members and invitations."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, field_validator, model_validator

from imghost.access.policy import ORG_ROLES
from imghost.schemas import ApiModel, StrictInput, Timestamp

# The wire type of a role; any other string is a 422. The roles themselves
# (and what they may do) are access.policy's: the two must name the same set.
OrgRole = Literal["owner", "admin", "member", "viewer"]
assert get_args(OrgRole) == ORG_ROLES, "OrgRole must list access.policy.ORG_ROLES"


class OrgIn(StrictInput):
    name: str = Field(min_length=1, max_length=100)

    @field_validator("name")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        return value


class OrgOut(ApiModel):
    org_id: str
    name: str
    created_at: Timestamp
    # The caller's role; null for a site administrator who is not a member.
    role: OrgRole | None


class OrgList(ApiModel):
    orgs: list[OrgOut]


class MemberOut(ApiModel):
    user_id: str
    username: str
    role: OrgRole
    joined_at: Timestamp


class MemberList(ApiModel):
    members: list[MemberOut]


class RoleIn(StrictInput):
    role: OrgRole


class InvitationIn(StrictInput):
    """Address an invitation to exactly one of a user id or an email address."""

    user_id: str | None = Field(default=None, min_length=1, max_length=40)
    email: str | None = Field(
        default=None, max_length=254, pattern=r"^\s*[^@\s]+@[^@\s]+\.[^@\s]+\s*$"
    )
    role: OrgRole

    @model_validator(mode="after")
    def _one_address(self) -> InvitationIn:
        if (self.user_id is None) == (self.email is None):
            raise ValueError("give exactly one of userId or email")
        return self


class InvitationOut(ApiModel):
    invitation_id: str
    org_id: str
    org_name: str
    role: OrgRole
    user_id: str | None
    email: str | None
    invited_by: str | None
    created_at: Timestamp
    expires_at: Timestamp


class InvitationList(ApiModel):
    invitations: list[InvitationOut]
