"""Delivery's own setting checked at start-up: how often egress rules reload."""

from __future__ import annotations

from imghost.settings import EgressSettings, SettingsError


def check(settings: EgressSettings) -> None:
    """Raise SettingsError when the reload interval cannot be used."""
    if not 0 < settings.egress_refresh <= 3600:  # also refuses NaN
        raise SettingsError("IMGHOST_EGRESS_REFRESH must be a number of seconds from 0 to 3600")
