"""The CDN purge settings are parsed at start-up; what cannot work stops it."""

from __future__ import annotations

from typing import Any

import pytest

from imghost.cdn.config import purge_config
from imghost.checks import check_settings
from imghost.settings import Settings, SettingsError


def test_nothing_set_is_no_purge() -> None:
    config = purge_config(Settings())
    assert not config.configured and config.base_url == Settings().public_base_url


def test_a_request_and_a_command() -> None:
    config = purge_config(
        Settings(
            cdn_purge_url="https://api.example.com/zones/z/purge_cache",
            cdn_purge_method="post",
            cdn_purge_headers='{"Authorization": "Bearer t"}',
            cdn_purge_body='{"files": {urls}}',
            cdn_purge_command='["purge", "{image_id}"]',
            cdn_purge_base_url="https://cdn.example.com/",
        )
    )
    assert config.http is not None and config.command is not None
    assert config.http.method == "POST" and config.http.headers == {"Authorization": "Bearer t"}
    assert config.http.shape.level == "path" and not config.http.shape.each
    assert config.command.shape.each and config.base_url == "https://cdn.example.com"


@pytest.mark.parametrize(
    ("values", "why"),
    [
        ({"cdn_purge_url": "ftp://x/purge"}, "http:// or https://"),
        ({"cdn_purge_url": "https://x/{paths}"}, "list placeholders"),
        ({"cdn_purge_url": "https://x/{nope}"}, "unknown placeholder"),
        ({"cdn_purge_url": "https://x/", "cdn_purge_headers": "[1]"}, "JSON object|map header"),
        ({"cdn_purge_url": "https://x/", "cdn_purge_headers": '{"a b": "c"}'}, "usable header"),
        ({"cdn_purge_url": "https://x/", "cdn_purge_method": "GE T"}, "no method"),
        ({"cdn_purge_body": "{}"}, "need IMGHOST_CDN_PURGE_URL"),
        ({"cdn_purge_command": "aws cloudfront"}, "JSON array"),
        ({"cdn_purge_command": "[]"}, "JSON array"),
        ({"cdn_purge_command": '["x", "{path}", "{paths}"]'}, "one form"),
        ({"cdn_purge_batch": 0}, "IMGHOST_CDN_PURGE_BATCH"),
        ({"cdn_purge_attempts": 0}, "IMGHOST_CDN_PURGE_ATTEMPTS"),
        ({"cdn_purge_timeout": 0.0}, "IMGHOST_CDN_PURGE_TIMEOUT"),
        ({"cdn_purge_base_url": "cdn.example.com"}, "IMGHOST_CDN_PURGE_BASE_URL"),
        ({"egress_refresh": 0.0}, "IMGHOST_EGRESS_REFRESH"),
        ({"bandwidth_free": -1}, "IMGHOST_BANDWIDTH_FREE"),
    ],
)
def test_unusable_settings_stop_the_start(values: dict[str, Any], why: str) -> None:
    with pytest.raises(SettingsError, match=why):
        check_settings(Settings(**values))
