"""The rendition-cache and malware-scan settings checked at start-up."""

from __future__ import annotations

from imghost.imaging.clamd import parse_address
from imghost.settings import ScanSettings, Settings, SettingsError


def check(settings: Settings) -> None:
    """Raise SettingsError naming the first processing setting that cannot be used."""
    check_scan(settings)
    if not 0 < settings.rendition_cache_per_image <= settings.rendition_cache_total:
        raise SettingsError(
            "IMGHOST_RENDITION_CACHE_PER_IMAGE must be positive and at most "
            "IMGHOST_RENDITION_CACHE_TOTAL"
        )
    if settings.rendition_cache_max_age <= 0:
        raise SettingsError("IMGHOST_RENDITION_CACHE_MAX_AGE must be a positive number of seconds")


def check_scan(settings: ScanSettings) -> None:
    if settings.clamd_address:
        try:
            parse_address(settings.clamd_address)
        except ValueError as exc:
            raise SettingsError(f"IMGHOST_CLAMD_ADDRESS: {exc}") from exc
    if settings.clamd_timeout <= 0:
        raise SettingsError("IMGHOST_CLAMD_TIMEOUT must be a positive number of seconds")
