"""The rendition-cache, malware-scan and hash-list settings checked at start-up."""

from __future__ import annotations

from pathlib import Path

from imghost.imaging.clamd import parse_address
from imghost.processing.hashlists import HashListError, HashLists
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
    if not 0 <= settings.hashlist_pdq_distance <= 256:
        raise SettingsError("IMGHOST_HASHLIST_PDQ_DISTANCE must be a number of bits, 0 to 256")
    if settings.hashlist_reload_check < 0:
        raise SettingsError("IMGHOST_HASHLIST_RELOAD_CHECK must be zero or a number of seconds")
    try:
        # Read whole at start-up: a list that cannot be used stops the start,
        # never a worker that would then match against nothing.
        HashLists.open(
            settings.hashlist_sha256,
            settings.hashlist_pdq,
            settings.hashlist_pdq_distance,
            settings.hashlist_reload_check,
        )
    except HashListError as exc:
        pdq = bool(settings.hashlist_pdq) and exc.path == Path(settings.hashlist_pdq)
        raise SettingsError(
            f"{'IMGHOST_HASHLIST_PDQ' if pdq else 'IMGHOST_HASHLIST_SHA256'}: {exc}"
        ) from exc
