"""An album and what a caller holds on it: the check every album route starts with,
and the album's images that caller sees."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.access.grants import Caller, album_grants, album_resource
from imghost.access.listing import album_images_visible
from imghost.access.policy import (
    OPEN_VISIBILITIES,
    Action,
    Grants,
    Level,
    level,
    require,
)
from imghost.albums.models import Album, AlbumImage
from imghost.errors import NotFound
from imghost.images.models import Image
from imghost.reads import SessionReader


@dataclass(frozen=True)
class AlbumAccess:
    """An album and what the caller holds on it."""

    album: Album
    grants: Grants

    @property
    def level(self) -> Level:
        # Computed on demand: a PATCH may have changed the album's visibility.
        return level(self.grants, album_resource(self.album))

    @property
    def explicit(self) -> bool:
        """Whether the caller's access comes from a grant, not only from the
        album being public or unlisted (which never reveals shared images)."""
        resource = album_resource(self.album)
        if resource.visibility in OPEN_VISIBILITIES:
            # The same grants on the album as if it were shared with them alone.
            resource = dataclasses.replace(resource, visibility="shared")
        return level(self.grants, resource) >= Level.VIEW

    def require(self, action: Action) -> None:
        require(self.grants, action, album_resource(self.album))


async def album_access(
    session: AsyncSession, caller: Caller, album_id: str, action: Action
) -> AlbumAccess:
    """The album with the caller's grants, or the 404/403 the policy answers."""
    album = await session.get(Album, album_id)
    if album is None:
        raise NotFound("No such album.")
    grants = await album_grants(SessionReader(session), caller, album)
    found = AlbumAccess(album, grants)
    found.require(action)
    return found


def visible_images(caller: Caller, access: AlbumAccess) -> Select[Image]:
    """The album's images this caller sees in it (unordered)."""
    shown = album_images_visible(
        caller, album_view=access.level >= Level.VIEW, explicit=access.explicit
    )
    return (
        select(Image)
        .join(AlbumImage, AlbumImage.image_id == Image.id)
        .join(Album, Album.id == AlbumImage.album_id)
        .where(AlbumImage.album_id == access.album.id, shown)
    )
