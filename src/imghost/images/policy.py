"""Who may do what with an image, at this stage of the project.

public: anyone; unlisted: anyone who has the id; private: the owner only (403
to everyone else, anonymous included). Deleted images do not exist (404), and
neither, for anyone but the owner, do images that are not ``ready`` yet (or
never will be: ``failed``, ``quarantined``).
"""

from __future__ import annotations

from typing import Protocol

from imghost.auth.services import Actor
from imghost.errors import AppError, Forbidden, NotFound
from imghost.images.models import Image


def is_owner(actor: Actor | None, image: Image) -> bool:
    return actor is not None and actor.user_id == image.owner_id


def check_view(actor: Actor | None, image: Image | None) -> Image:
    if image is None or image.deleted_at is not None:
        raise NotFound("No such image.")
    check_visible(actor, image.owner_id, image.visibility, image.status)
    return image


def check_visible(actor: Actor | None, owner_id: str, visibility: str, status: str) -> None:
    """The rule on plain values, for the delivery path that has no ORM object."""
    owner = actor is not None and actor.user_id == owner_id
    if owner:
        return
    if visibility == "private":
        raise Forbidden("This image is private.")
    # Until processing (and the scan) finished, only the owner sees an image.
    if status != "ready":
        raise NotFound("No such image.")


def check_bytes(status: str) -> None:
    """Quarantined bytes are served to nobody, the owner included."""
    if status == "quarantined":
        raise AppError(
            403,
            "quarantined",
            "This image was quarantined by the content scan; its bytes are not served.",
        )


class _HasOriginals(Protocol):
    @property
    def blob_key(self) -> str: ...
    @property
    def sha256(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def public_blob_key(self) -> str | None: ...
    @property
    def public_sha256(self) -> str | None: ...
    @property
    def public_size(self) -> int | None: ...


def served_original(image: _HasOriginals, owner: bool) -> tuple[str, str, int]:
    """(blob key, sha256, size) of the original this caller gets.

    Everyone but the owner gets the GPS-free copy when one exists (the owner
    did not opt in to sharing the position).
    """
    if not owner and image.public_blob_key and image.public_sha256 and image.public_size:
        return image.public_blob_key, image.public_sha256, image.public_size
    return image.blob_key, image.sha256, image.size


def check_edit(actor: Actor | None, image: Image | None) -> Image:
    image = check_view(actor, image)
    if not is_owner(actor, image):
        raise Forbidden("Only the image's owner can change or delete it.")
    return image
