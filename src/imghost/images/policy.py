"""Image-specific facts the access policy (``access.policy``) does not decide:
which copy of the original a caller gets, that quarantined bytes go to no one,
and what a failed image's derivatives answer.
"""

from __future__ import annotations

from typing import Protocol

from imghost.errors import AppError


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
    @property
    def keep_gps(self) -> bool: ...
    @property
    def original_gps(self) -> bool | None: ...


def served_original(image: _HasOriginals, owner: bool) -> tuple[str, str, int]:
    """(blob key, sha256, size) of the original this caller gets.

    Everyone but the owner gets the GPS-free copy when one exists (the owner
    did not opt in to sharing the position). Without one, others get the
    original only when it is known to carry no GPS: processing may have
    failed before the copy was made, and then they get nothing until it is.
    """
    if owner:
        return image.blob_key, image.sha256, image.size
    if image.public_blob_key and image.public_sha256 and image.public_size:
        return image.public_blob_key, image.public_sha256, image.public_size
    if image.keep_gps or image.original_gps is False:
        return image.blob_key, image.sha256, image.size
    raise AppError(
        409,
        "gps_copy_unavailable",
        "This image's original carries a GPS position and the copy without it could not "
        "be made, so only its owner can download it for now.",
    )


# What a failed step means for a viewer, in words (docs/API.md lists the steps).
_STEP_WORDS = {
    "scan": "the content scan could not run",
    "metadata": "its metadata could not be read",
    "derivatives": "its resized versions could not be made",
    "gps_copy": "the copy without GPS could not be made",
    "store": "the storage kept failing",
}


def derivatives_unavailable(image_id: str, failed_step: str | None) -> AppError:
    """The problem a preset or transform of a ``failed`` image answers."""
    why = _STEP_WORDS.get(failed_step or "", "processing failed")
    return AppError(
        409,
        "image_failed",
        f"Processing of this image failed ({why}), so it has no presets or transforms; "
        f"its original is still available at /images/{image_id}.",
    )
