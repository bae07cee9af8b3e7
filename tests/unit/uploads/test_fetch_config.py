"""The settings of uploads from a URL: the loopback switch is for test suites only."""

from __future__ import annotations

import pytest

from imghost.settings import Settings, SettingsError, UploadSettings
from imghost.uploads import config


def test_private_sources_are_refused_in_production() -> None:
    config.check_reach(Settings(fetch_allow_private=True))  # development: allowed
    key = "k" * 40
    config.check_reach(Settings(env="production", secret_key=key))
    with pytest.raises(SettingsError, match="IMGHOST_FETCH_ALLOW_PRIVATE"):
        config.check_reach(Settings(env="production", secret_key=key, fetch_allow_private=True))


@pytest.mark.parametrize(
    ("values", "name"),
    [
        ({"fetch_timeout": 0}, "IMGHOST_FETCH_TIMEOUT"),
        ({"fetch_timeout": float("nan")}, "IMGHOST_FETCH_TIMEOUT"),
        ({"fetch_max_redirects": -1}, "IMGHOST_FETCH_MAX_REDIRECTS"),
    ],
)
def test_fetch_limits_are_checked(values: dict[str, float], name: str) -> None:
    with pytest.raises(SettingsError, match=name):
        config.check(UploadSettings(**values))  # type: ignore[arg-type]
    config.check(UploadSettings(fetch_max_redirects=0))  # no redirects at all is fine
