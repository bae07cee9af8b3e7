"""Share links on the wire: creating one, listing them, and what opening one returns."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from imghost.albums.models import Album
from imghost.images.models import Image
from imghost.schemas import ApiModel, StrictInput, Timestamp, Visibility
from imghost.sharing.models import ShareLink

LinkPermission = Literal["view", "download"]
LinkKind = Literal["image", "album"]

MIN_EXPIRES_IN = 60
MAX_EXPIRES_IN = 365 * 86400
MAX_VIEWS = 1_000_000_000


def _view_only() -> list[LinkPermission]:
    return ["view"]


def share_page_url(base_url: str, link_id: str) -> str:
    return f"{base_url}/s/{link_id}"


def permissions_of(link: ShareLink) -> list[LinkPermission]:
    """The stored permissions in their one canonical order."""
    order: tuple[LinkPermission, ...] = ("view", "download")
    return [p for p in order if p in link.permissions]


class LinkCreate(StrictInput):
    expires_in: int | None = Field(
        default=None,
        ge=MIN_EXPIRES_IN,
        le=MAX_EXPIRES_IN,
        description="Seconds until the link stops working; omit for no expiry.",
    )
    # The minimum length is the service's rule (422 weak_password, links.py).
    password: str | None = Field(
        default=None,
        max_length=200,
        description="Asked of whoever opens it; at least 8 characters.",
    )
    permissions: list[LinkPermission] = Field(
        default_factory=_view_only,
        min_length=1,
        max_length=2,
        description='`["view"]` or `["view", "download"]` (download: also the original).',
    )
    max_views: int | None = Field(
        default=None, ge=1, le=MAX_VIEWS, description="Opens allowed; omit for unlimited."
    )

    @field_validator("permissions")
    @classmethod
    def _canonical(cls, value: list[LinkPermission]) -> list[LinkPermission]:
        if "view" not in value:
            raise ValueError('must include "view"')
        # One spelling per meaning, so stored rows and answers compare equal.
        return ["view", "download"] if "download" in value else ["view"]


class LinkOut(ApiModel):
    link_id: str
    url: str = Field(description="The page a holder opens: `{publicBaseUrl}/s/{linkId}`.")
    kind: LinkKind
    target_id: str
    permissions: list[LinkPermission]
    expires_at: Timestamp | None
    max_views: int | None
    views: int
    has_password: bool
    created_at: Timestamp
    revoked_at: Timestamp | None

    @classmethod
    def of(cls, link: ShareLink, base_url: str) -> LinkOut:
        kind: LinkKind = "image" if link.image_id is not None else "album"
        target = link.image_id if link.image_id is not None else link.album_id
        assert target is not None
        return cls(
            link_id=link.id,
            url=share_page_url(base_url, link.id),
            kind=kind,
            target_id=target,
            permissions=permissions_of(link),
            expires_at=link.expires_at,
            max_views=link.max_views,
            views=link.views,
            has_password=link.password_hash is not None,
            created_at=link.created_at,
            revoked_at=link.revoked_at,
        )


class LinkCreated(LinkOut):
    visibility: Visibility = Field(
        description="The target's visibility now: sharing a private image or album makes it "
        "`shared`."
    )


class LinkList(ApiModel):
    links: list[LinkOut]


class LinkOpen(StrictInput):
    password: str | None = Field(default=None, max_length=200)


class SharedImage(ApiModel):
    """The image behind a link; every URL carries the grant as ``?share=``."""

    image_id: str
    title: str | None
    description: str | None
    tags: list[str]
    format: str
    mime_type: str
    size: int
    width: int
    height: int
    url: str = Field(
        description="A display copy (the `large` preset, at most 2048 px): viewable with "
        "either permission, unlike the original."
    )
    thumbnail_url: str
    download_url: str | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="The original; present only when the link grants `download`.",
    )
    created_at: Timestamp

    @classmethod
    def of(cls, image: Image, base_url: str, token: str, download: bool) -> SharedImage:
        root = f"{base_url}/images/{image.id}"
        share = f"?share={token}"  # token characters are URL-safe (base32, digits, base64url)
        return cls(
            image_id=image.id,
            title=image.title,
            description=image.description,
            tags=image.tags,
            format=image.format,
            mime_type=image.mime_type,
            size=image.size,
            width=image.width,
            height=image.height,
            url=f"{root}/large.jpg{share}",
            thumbnail_url=f"{root}/thumb.jpg{share}",
            download_url=f"{root}{share}" if download else None,
            created_at=image.created_at,
        )


class SharedAlbum(ApiModel):
    album_id: str
    title: str
    description: str | None
    images_url: str = Field(description="The album's images, readable with the grant.")

    @classmethod
    def of(cls, album: Album, base_url: str, token: str) -> SharedAlbum:
        return cls(
            album_id=album.id,
            title=album.title,
            description=album.description,
            images_url=f"{base_url}/v1/albums/{album.id}/images?share={token}",
        )


class LinkOpened(ApiModel):
    link_id: str
    kind: LinkKind
    permissions: list[LinkPermission]
    expires_at: Timestamp | None = Field(description="When the link itself stops working.")
    token: str = Field(description="The grant: pass it as `?share=` on read paths.")
    token_expires_at: Timestamp = Field(description="Open the link again after this.")
    image: SharedImage | None = Field(default=None, exclude_if=lambda v: v is None)
    album: SharedAlbum | None = Field(default=None, exclude_if=lambda v: v is None)
