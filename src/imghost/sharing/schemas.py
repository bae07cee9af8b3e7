from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BeforeValidator, Field

from imghost.schemas import ApiModel, StrictInput, Timestamp, Visibility

if TYPE_CHECKING:
    from imghost.sharing.models import PendingShare


def _text_only(value: object) -> object:
    # RFC 3339 text only: pydantic would also take a number as Unix seconds.
    if value is not None and not isinstance(value, str):
        raise ValueError("expiresAt must be an RFC 3339 date-time string")
    return value


# A collaborator grant's end, as a request gives it (checked against the clock
# by access.policy.grant_expiry: in the future, at most 10 years away).
GrantExpiresAt = Annotated[
    Timestamp | None,
    BeforeValidator(_text_only),
    Field(
        default=None,
        description=(
            "When the grant ends (RFC 3339 with an offset, in the future, at most 10 years "
            "ahead); left out or null: until revoked."
        ),
    ),
]


class CollaboratorIn(StrictInput):
    """The whole grant: a PUT replaces the permission and the expiry (left out: none)."""

    permission: Literal["view", "download", "edit"]
    expires_at: GrantExpiresAt = None


class CollaboratorAdd(StrictInput):
    """The design's share: ``sharedWith`` names a user by id, username or e-mail."""

    shared_with: str = Field(
        min_length=1,
        max_length=254,
        description="A user id (`u_…`), a username, or an e-mail address (has `@`).",
    )
    permission: Literal["view", "download", "edit"]
    expires_at: GrantExpiresAt = None


class ShareInvited(ApiModel):
    """The one answer to a share by e-mail, whether or not an account has the address."""

    shared_with: str = Field(description="The address, normalized (lower case).")
    status: Literal["invited"] = "invited"
    permission: str
    expires_at: Timestamp = Field(description="Unclaimed by then, the invitation lapses.")
    grant_expires_at: Timestamp | None = Field(
        default=None, description="When the grant ends once claimed (null: until revoked)."
    )


class PendingShareOut(ApiModel):
    email: str
    permission: str
    created_at: Timestamp
    expires_at: Timestamp
    grant_expires_at: Timestamp | None = None

    @classmethod
    def of(cls, row: PendingShare) -> PendingShareOut:
        return cls(
            email=row.email,
            permission=row.permission,
            created_at=row.created_at,
            expires_at=row.expires_at,
            grant_expires_at=row.grant_expires_at,
        )


class CollaboratorOut(ApiModel):
    user_id: str
    username: str
    permission: str
    created_at: Timestamp
    expires_at: Timestamp | None = Field(
        default=None, description="When the grant ends (null: until revoked)."
    )


class CollaboratorGranted(CollaboratorOut):
    visibility: Visibility = Field(
        description="The image's visibility now: sharing a private image makes it `shared`."
    )


class CollaboratorShared(CollaboratorGranted):
    """A share by user id or username: the grant exists at once."""

    shared_with: str = Field(description="As it was sent (an id or a username).")
    status: Literal["granted"] = "granted"


class CollaboratorList(ApiModel):
    collaborators: list[CollaboratorOut]
    pending: list[PendingShareOut] = Field(
        default_factory=list,
        description="Shares sent by e-mail and not yet claimed: they grant nothing yet.",
    )


class SignedUrlIn(StrictInput):
    expires_in: int = Field(ge=1, description="Seconds until the URL stops working")
    permissions: list[Literal["view", "download"]] = Field(default=["view"], min_length=1)
    # What the URL points at, relative to /images/{id}: "original", "metadata",
    # a preset ("medium.webp") or a transform ("t/w_640,h_360.webp"). Default:
    # the original with `download`, else large.jpg.
    variant: str | None = Field(default=None, max_length=200)


class SignedUrlOut(ApiModel):
    share_url: str
    expires_at: Timestamp
    path: str
    permissions: list[str]
    key_id: str
