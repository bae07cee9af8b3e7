"""Request and response shapes for /v1/albums."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from imghost.images.schemas import ImageOut, thumbnail_url
from imghost.schemas import ApiModel, StrictInput, Timestamp, Visibility
from imghost.sharing.schemas import GrantExpiresAt, PendingShareOut

if TYPE_CHECKING:
    from imghost.access.policy import Level
    from imghost.accounts.models import User
    from imghost.albums.models import Album, AlbumCollaborator
    from imghost.images.models import Image

AlbumPermission = Literal["view", "download", "upload", "edit"]
# The caller's own level on an album, as `permission` in AlbumOut.
LevelName = Literal["view", "download", "upload", "edit", "owner"]

MAX_BATCH = 100
# An album's full ordering is sent in one request: bounded, but generous.
MAX_ORDER = 10_000


@dataclass(frozen=True)
class AlbumFacts:
    """What an album answer says, for one caller."""

    album: Album
    level: Level
    image_count: int
    cover: Image | None  # only when the caller sees it in the album


class AlbumCreate(StrictInput):
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    visibility: Visibility = "private"
    org_id: str | None = Field(default=None, max_length=40)


class AlbumPatch(StrictInput):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    visibility: Visibility | None = None
    cover_image_id: str | None = Field(default=None, max_length=40)

    @model_validator(mode="after")
    def _not_null(self) -> AlbumPatch:
        # null clears description and cover; an album always has a title and a visibility.
        for name in ("title", "visibility"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class AlbumImageIds(StrictInput):
    image_ids: list[str] = Field(min_length=1, max_length=MAX_BATCH)


class AlbumOrder(StrictInput):
    image_ids: list[str] = Field(max_length=MAX_ORDER)


class AlbumOut(ApiModel):
    album_id: str
    title: str
    description: str | None
    visibility: Visibility
    owner_id: str
    org_id: str | None
    # Only when the caller can see the cover image in this album.
    cover_image_id: str | None
    cover_url: str | None = None
    # The images the caller sees in the album (the `total` of its image listing).
    image_count: int
    created_at: Timestamp
    updated_at: Timestamp
    permission: LevelName

    @classmethod
    def of(cls, facts: AlbumFacts, base_url: str) -> AlbumOut:
        album, cover = facts.album, facts.cover
        return cls(
            album_id=album.id,
            title=album.title,
            description=album.description,
            visibility=album.visibility,
            owner_id=album.owner_id,
            org_id=album.org_id,
            cover_image_id=cover.id if cover else None,
            cover_url=thumbnail_url(base_url, cover) if cover else None,
            image_count=facts.image_count,
            created_at=album.created_at,
            updated_at=album.updated_at,
            permission=facts.level.name.lower(),
        )


class AlbumList(ApiModel):
    albums: list[AlbumOut]
    page: int
    limit: int
    total: int


class AlbumImageList(ApiModel):
    images: list[ImageOut]
    page: int
    limit: int
    total: int


class CollaboratorPut(StrictInput):
    """The whole grant: a PUT replaces the permission and the expiry (left out: none)."""

    permission: AlbumPermission
    expires_at: GrantExpiresAt = None


class AlbumCollaboratorAdd(StrictInput):
    """The design's share, for an album: a user id, a username or an e-mail."""

    shared_with: str = Field(
        min_length=1,
        max_length=254,
        description="A user id (`u_…`), a username, or an e-mail address (has `@`).",
    )
    permission: AlbumPermission
    expires_at: GrantExpiresAt = None


class AlbumCollaboratorOut(ApiModel):
    album_id: str
    user_id: str
    username: str
    permission: AlbumPermission
    granted_by: str | None
    created_at: Timestamp
    expires_at: Timestamp | None = Field(
        default=None, description="When the grant ends (null: until revoked)."
    )

    @classmethod
    def of(cls, grant: AlbumCollaborator, user: User) -> AlbumCollaboratorOut:
        return cls(
            album_id=grant.album_id,
            user_id=user.id,
            username=user.username,
            permission=grant.permission,
            granted_by=grant.granted_by,
            created_at=grant.created_at,
            expires_at=grant.expires_at,
        )


class AlbumCollaboratorGranted(AlbumCollaboratorOut):
    visibility: Visibility = Field(
        description="The album's visibility now: sharing a private album makes it `shared`."
    )


class AlbumCollaboratorShared(AlbumCollaboratorGranted):
    """A share by user id or username: the grant exists at once."""

    shared_with: str = Field(description="As it was sent (an id or a username).")
    status: Literal["granted"] = "granted"


class AlbumCollaboratorList(ApiModel):
    collaborators: list[AlbumCollaboratorOut]
    pending: list[PendingShareOut] = Field(
        default_factory=list,
        description="Shares sent by e-mail and not yet claimed: they grant nothing yet.",
    )
