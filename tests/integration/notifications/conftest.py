"""Notification tests: the app with an SMTP sink and webhooks allowed on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from imghost.settings import Settings
from tests.integration.notifications.receivers import SmtpSink

RETRY_BASE = 0.5  # seconds before the first webhook retry (then 1 s, 2 s, ...)


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def settings(settings_factory: Any, smtp: SmtpSink) -> Settings:
    made: Settings = settings_factory(
        smtp_url=smtp.url,
        mail_from="imghost@notify.test",
        webhook_allow_private=True,
        webhook_retry_base=RETRY_BASE,
        webhook_timeout=5.0,
    )
    return made
