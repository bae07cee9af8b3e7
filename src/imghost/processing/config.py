"""The rendition-cache settings checked at start-up."""

from __future__ import annotations

from imghost.settings import RenditionSettings, SettingsError


def check(settings: RenditionSettings) -> None:
    """Raise SettingsError naming the first rendition-cache setting that cannot be used."""
    if not 0 < settings.rendition_cache_per_image <= settings.rendition_cache_total:
        raise SettingsError(
            "IMGHOST_RENDITION_CACHE_PER_IMAGE must be positive and at most "
            "IMGHOST_RENDITION_CACHE_TOTAL"
        )
    if settings.rendition_cache_max_age <= 0:
        raise SettingsError("IMGHOST_RENDITION_CACHE_MAX_AGE must be a positive number of seconds")
