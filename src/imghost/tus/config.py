"""The resumable-upload settings checked at start-up."""

from __future__ import annotations

from imghost.settings import SettingsError, TusSettings

S3_MIN_PART = 5 * 1024**2  # S3 refuses smaller parts (but the last)


def check(settings: TusSettings) -> None:
    """Raise SettingsError naming the first tus setting that cannot be used."""
    if settings.s3_part_size < S3_MIN_PART:
        raise SettingsError("IMGHOST_S3_PART_SIZE must be at least 5MiB (S3's minimum part)")
    if settings.tus_expires <= 0:
        raise SettingsError("IMGHOST_TUS_EXPIRES must be positive")
