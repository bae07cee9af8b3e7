"""The upload settings checked at start-up: sizes, the cost of checking a file, slots."""

from __future__ import annotations

from imghost.settings import Settings, SettingsError, UploadSettings


def check(settings: UploadSettings) -> None:
    """Raise SettingsError naming the first upload setting that cannot be used."""
    for name in ("max_file_size", "max_batch_size", "max_batch_files", "max_pixels"):
        if getattr(settings, name) <= 0:
            raise SettingsError(f"IMGHOST_{name.upper()} must be positive")
    if settings.max_file_size > settings.max_batch_size:
        raise SettingsError("IMGHOST_MAX_FILE_SIZE cannot exceed IMGHOST_MAX_BATCH_SIZE")
    # validation of a file: frames, decoded pixels, time budget, fair admission
    for name in ("max_frames", "max_total_pixels", "validations_per_user", "max_image_chunks"):
        if getattr(settings, name) <= 0:
            raise SettingsError(f"IMGHOST_{name.upper()} must be positive")
    if settings.validation_queue < 0 or settings.validation_queue_per_user < 0:
        raise SettingsError(
            "IMGHOST_VALIDATION_QUEUE and IMGHOST_VALIDATION_QUEUE_PER_USER cannot be negative"
        )
    if not 0 < settings.validation_timeout < float("inf"):  # also refuses NaN
        raise SettingsError("IMGHOST_VALIDATION_TIMEOUT must be a positive number of seconds")
    # upload bodies sent at once (slots.py)
    for name in ("uploads_per_user", "uploads_per_address"):
        if getattr(settings, name) <= 0:
            raise SettingsError(f"IMGHOST_{name.upper()} must be positive")
    # uploads from a URL (fetch.py)
    if not 0 < settings.fetch_timeout < float("inf"):
        raise SettingsError("IMGHOST_FETCH_TIMEOUT must be a positive number of seconds")
    if settings.fetch_max_redirects < 0:
        raise SettingsError("IMGHOST_FETCH_MAX_REDIRECTS cannot be negative")


def check_reach(settings: Settings) -> None:
    """Takes the whole settings: whether uploads from a URL may reach private
    addresses depends on ``env``."""
    if settings.fetch_allow_private and settings.env == "production":
        raise SettingsError(
            "IMGHOST_FETCH_ALLOW_PRIVATE is for test suites: it lets any user make the "
            "server fetch from its own network; production refuses it"
        )
