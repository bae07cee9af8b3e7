"""The readiness and metrics settings checked at start-up."""

from __future__ import annotations

import math

from imghost.settings import OpsSettings, SettingsError

#: A shorter token could be guessed by a scraper of our own port.
MIN_TOKEN = 32


def check(settings: OpsSettings) -> None:
    """Raise SettingsError naming the first readiness or metrics setting that cannot be used."""
    if settings.metrics_token and len(settings.metrics_token) < MIN_TOKEN:
        raise SettingsError(
            f"IMGHOST_METRICS_TOKEN must be at least {MIN_TOKEN} characters "
            "(e.g. `openssl rand -base64 48`), or empty to turn /metrics off"
        )
    if not (0 < settings.ready_timeout <= 60 and math.isfinite(settings.ready_timeout)):
        raise SettingsError("IMGHOST_READY_TIMEOUT must be from 0 to 60 seconds")
    if settings.ready_max_queue_age < 0:
        raise SettingsError("IMGHOST_READY_MAX_QUEUE_AGE cannot be negative (0: not checked)")
