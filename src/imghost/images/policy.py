"""Image-specific facts the access policy (``access.policy``) does not decide:
which copy of the original a caller gets, and that quarantined bytes go to no one.
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


def served_original(image: _HasOriginals, owner: bool) -> tuple[str, str, int]:
    """(blob key, sha256, size) of the original this caller gets.

    Everyone but the owner gets the GPS-free copy when one exists (the owner
    did not opt in to sharing the position).
    """
    if not owner and image.public_blob_key and image.public_sha256 and image.public_size:
        return image.public_blob_key, image.public_sha256, image.public_size
    return image.blob_key, image.sha256, image.size
