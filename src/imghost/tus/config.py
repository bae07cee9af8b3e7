"""The resumable-upload settings checked at start-up."""

from __future__ import annotations

from imghost.settings import SettingsError, TusSettings

S3_MIN_PART = 5 * 1024**2  # S3 refuses smaller parts (but the last)

#: The shortest lease: a PATCH renews it at least every 5/8 of it (see
#: ``tus.receive``), so the rest (3/8, 1.5 s here) is all the time one chunk's
#: write (an S3 part) and the renewal's commit may take. Shorter, a live but
#: slow request would lose its upload to a retry.
MIN_LEASE = 4


def check(settings: TusSettings) -> None:
    """Raise SettingsError naming the first tus setting that cannot be used."""
    if settings.s3_part_size < S3_MIN_PART:
        raise SettingsError("IMGHOST_S3_PART_SIZE must be at least 5MiB (S3's minimum part)")
    if settings.tus_expires <= 0:
        raise SettingsError("IMGHOST_TUS_EXPIRES must be positive")
    if settings.tus_lease < MIN_LEASE:
        raise SettingsError(
            f"IMGHOST_TUS_LEASE must be at least {MIN_LEASE} seconds: a PATCH renews its "
            "lease every few seconds and needs the rest of it to write a chunk"
        )
