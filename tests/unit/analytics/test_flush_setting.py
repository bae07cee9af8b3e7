from __future__ import annotations

import pytest

from imghost.checks import load_settings
from imghost.settings import Settings, SettingsError


def test_flush_interval_is_seconds_with_fractions() -> None:
    assert Settings.from_env({}).analytics_flush_interval == 5.0
    env = {"IMGHOST_ANALYTICS_FLUSH_INTERVAL": "0.5"}
    assert Settings.from_env(env).analytics_flush_interval == 0.5


@pytest.mark.parametrize("raw", ["0", "-1", "nan", "inf", "soon"])
def test_flush_interval_must_be_positive(raw: str) -> None:
    with pytest.raises(SettingsError, match="IMGHOST_ANALYTICS_FLUSH_INTERVAL"):
        load_settings({"IMGHOST_ANALYTICS_FLUSH_INTERVAL": raw})
