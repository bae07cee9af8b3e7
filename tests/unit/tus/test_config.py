"""The tus settings' start-up checks."""

from __future__ import annotations

import pytest

from imghost.settings import SettingsError, TusSettings
from imghost.tus import config


def test_the_lease_has_a_floor() -> None:
    config.check(TusSettings(tus_lease=config.MIN_LEASE))
    with pytest.raises(SettingsError, match="IMGHOST_TUS_LEASE must be at least 4 seconds"):
        config.check(TusSettings(tus_lease=config.MIN_LEASE - 1))
