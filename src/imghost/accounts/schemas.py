from __future__ import annotations

from typing import Literal

from pydantic import Field

from imghost.schemas import ApiModel, StrictInput, Timestamp, Visibility


class SignupIn(StrictInput):
    username: str = Field(min_length=3, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")
    email: str = Field(min_length=3, max_length=254)
    # Length is checked by the service so a short password gets `weak_password`.
    password: str = Field(max_length=1024)


class SignupOut(ApiModel):
    user_id: str
    username: str
    email: str
    created_at: Timestamp


class UserOut(ApiModel):
    user_id: str
    username: str
    email: str
    display_name: str | None
    default_visibility: Visibility
    keep_gps: bool
    email_verified: bool
    email_verified_at: Timestamp | None
    created_at: Timestamp
    updated_at: Timestamp


class UserPatch(StrictInput):
    display_name: str | None = Field(default=None, max_length=100)
    default_visibility: Visibility | None = None
    keep_gps: bool | None = None


class DeletionIn(StrictInput):
    # The account's password: deleting an account needs more than a stolen token.
    password: str = Field(max_length=1024)


class DeletionOut(ApiModel):
    # none: nothing scheduled; scheduled: purged from deleteAfter on unless cancelled.
    status: Literal["none", "scheduled"]
    requested_at: Timestamp | None = None
    delete_after: Timestamp | None = None


class UserLookupOut(ApiModel):
    """Who an exact username or e-mail address belongs to: never the address itself."""

    user_id: str
    username: str
