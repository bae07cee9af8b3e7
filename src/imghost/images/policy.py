"""Image-specific facts the access policy (``access.policy``) does not decide:
which copy of the original a caller gets, that quarantined bytes go to admins only,
and what a failed image's derivatives answer.
"""

from __future__ import annotations

from typing import Protocol

from imghost.errors import AppError


def check_bytes(status: str, admin: bool = False) -> None:
    """Quarantined bytes are served to nobody but site admins, the owner
    included: admins decide on them (reports, the scan's refusals).

    A damaged image's bytes (its original missing or unlike its recorded
    hash: ``images.damage``) are served to nobody: 410 ``damaged``. Only
    owner-level callers get this far: to everyone else an image that is not
    ready or retrievable does not exist (404, ``access.policy``)."""
    if status == "quarantined" and not admin:
        raise AppError(
            403,
            "quarantined",
            "This image is quarantined; its bytes are not served.",
        )
    if status == "damaged":
        raise AppError(
            410,
            "damaged",
            "This image's stored original is missing or corrupt (found by an integrity "
            "check); its bytes are not served until an operator restores them.",
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


# What each failed step means, in words anyone may read (the raw error text of
# `statusReason` may name internals, so only owner-level callers see it).
_STEP_WORDS = {
    "scan": "The content scan could not run",
    "metadata": "Its metadata could not be read",
    "gps_copy": "The copy of the original without its GPS position could not be made",
    "derivatives": "Its resized versions could not be made",
    "store": "Its files could not be read from or written to the store",
}
_CODE_WORDS = {
    "unprocessable": "the decoder rejects the file",
    "timeout": "it ran out of time on every attempt",
    "out_of_memory": "it needed more memory than a worker allows on every attempt",
    "worker_died": "the worker process died on every attempt",
    "store_error": "the blob store kept failing past the retries",
    "error": "it failed on every attempt",
}


def failure_sentence(step: str | None, code: str | None) -> str:
    what = _STEP_WORDS.get(step or "", "Processing failed")
    how = _CODE_WORDS.get(code or "error", "it failed")
    return f"{what}: {how}."


def derivatives_unavailable(
    image_id: str, failed_step: str | None, failed_code: str | None
) -> AppError:
    """The problem a preset or transform of a ``failed`` image answers."""
    return AppError(
        409,
        "image_failed",
        "This image has no presets or transforms because its processing failed. "
        f"{failure_sentence(failed_step, failed_code)} Its original may still be downloaded "
        f"at /images/{image_id}.",
    )
