"""Who may do what with an image, at this stage of the project.

public: anyone; unlisted: anyone who has the id; private: the owner only (403
to everyone else, anonymous included). Deleted images do not exist (404).
"""

from __future__ import annotations

from imghost.auth.services import Actor
from imghost.errors import Forbidden, NotFound
from imghost.images.models import Image


def is_owner(actor: Actor | None, image: Image) -> bool:
    return actor is not None and actor.user_id == image.owner_id


def check_view(actor: Actor | None, image: Image | None) -> Image:
    if image is None or image.deleted_at is not None:
        raise NotFound("No such image.")
    if image.visibility == "private" and not is_owner(actor, image):
        raise Forbidden("This image is private.")
    return image


def check_edit(actor: Actor | None, image: Image | None) -> Image:
    image = check_view(actor, image)
    if not is_owner(actor, image):
        raise Forbidden("Only the image's owner can change or delete it.")
    return image
