from __future__ import annotations

from typing import Literal

from pydantic import Field

from imghost.schemas import ApiModel, StrictInput, Timestamp, Visibility


class CollaboratorIn(StrictInput):
    permission: Literal["view", "download", "edit"]


class CollaboratorOut(ApiModel):
    user_id: str
    username: str
    permission: str
    created_at: Timestamp


class CollaboratorGranted(CollaboratorOut):
    visibility: Visibility = Field(
        description="The image's visibility now: sharing a private image makes it `shared`."
    )


class CollaboratorList(ApiModel):
    collaborators: list[CollaboratorOut]


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
