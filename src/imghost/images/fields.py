"""The rules of an image's own fields (title, description, tags, visibility,
keepGps), written once.

An image's fields arrive four ways: JSON (``PATCH /v1/images/{id}``, a
presigned upload's finalize), a multipart form (direct and batch uploads) and
tus ``Upload-Metadata``. JSON bodies use the annotated types below in their
pydantic models; form fields and metadata values are text, read by
:func:`fields_from_text`. Either way the limits and error messages are these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, get_args

from pydantic import Field

from imghost.errors import AppError
from imghost.schemas import Visibility

MAX_TITLE = 200  # also the width of the images.title column
MAX_DESCRIPTION = 5000
MAX_TAGS = 50
MAX_TAG_LENGTH = 64
VISIBILITIES: tuple[str, ...] = get_args(Visibility)

# For request models: ``title: Title | None = None``.
Title = Annotated[str, Field(max_length=MAX_TITLE)]
Description = Annotated[str, Field(max_length=MAX_DESCRIPTION)]
Tags = Annotated[list[str], Field(max_length=MAX_TAGS)]


@dataclass(frozen=True)
class NewImageFields:
    title: str | None
    description: str | None
    tags: list[str]
    visibility: str
    keep_gps: bool = False
    # Uploaded into an album (checked before any byte is stored): the image
    # joins it, and an org album's image belongs to the org's namespace.
    album_id: str | None = None
    org_id: str | None = None


def normalize_tags(raw: list[str]) -> list[str]:
    """Lower-case, trimmed, de-duplicated tags in the order given."""
    seen: dict[str, None] = {}
    for item in raw:
        for piece in item.split(","):
            tag = " ".join(piece.split()).lower()
            if not tag:
                continue
            if len(tag) > MAX_TAG_LENGTH:
                raise AppError(
                    422, "invalid_tag", f"Tags can be at most {MAX_TAG_LENGTH} characters long."
                )
            seen.setdefault(tag, None)
    if len(seen) > MAX_TAGS:
        raise AppError(422, "too_many_tags", f"An image can have at most {MAX_TAGS} tags.")
    return list(seen)


def check_visibility(value: str) -> str:
    if value not in VISIBILITIES:
        raise AppError(
            422, "invalid_visibility", f"visibility must be one of {', '.join(VISIBILITIES)}."
        )
    return value


def fields_from_text(
    *,
    title: str | None,
    description: str | None,
    tags: list[str],
    visibility: str | None,
    keep_gps: str | None,
    default_visibility: str,
    default_keep_gps: bool,
) -> NewImageFields:
    """A new image's fields from text values (a form's fields, tus metadata);
    ``None`` or ``""`` leaves a field unset. The caller adds ``album_id``."""
    if title is not None and len(title) > MAX_TITLE:
        raise AppError(422, "validation_error", f"title can be at most {MAX_TITLE} characters.")
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise AppError(
            422, "validation_error", f"description can be at most {MAX_DESCRIPTION} characters."
        )
    if keep_gps not in (None, "", "true", "false"):
        raise AppError(422, "validation_error", "keepGps must be true or false.")
    return NewImageFields(
        title=title or None,
        description=description or None,
        tags=normalize_tags(tags),
        visibility=check_visibility(visibility or default_visibility),
        keep_gps=default_keep_gps if not keep_gps else keep_gps == "true",
    )
