"""Every feature's check of its own settings, run once where a process starts.

``Settings`` checks only what it needs to build itself; the rules of a feature's
settings live in that feature (``<feature>/config.py``, or beside the code for the
HTTP server and request bodies). ``create_app`` and the CLI's settings loading run
them all from this one list, so a bad value still stops the service at start-up,
with the setting's name in the message (the CLI exits 2).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from imghost import bodies, server, server_tls
from imghost.analytics import config as analytics
from imghost.audit import config as audit
from imghost.auth import config as auth
from imghost.cdn import config as cdn
from imghost.delivery import config as delivery
from imghost.lifecycle import config as lifecycle
from imghost.notifications import config as notifications
from imghost.ops import config as ops
from imghost.processing import config as processing
from imghost.quotas import config as quotas
from imghost.ratelimit import config as ratelimit
from imghost.replicas import config as replicas
from imghost.reports import config as reports
from imghost.settings import Settings
from imghost.sharing import config as sharing
from imghost.storage import config as storage
from imghost.tus import config as tus
from imghost.uploads import config as uploads

# Each takes its own section of the settings (or the whole) and raises SettingsError.
CHECKS: tuple[Callable[[Settings], None], ...] = (
    uploads.check,
    uploads.check_reach,
    tus.check,
    lifecycle.check,
    sharing.check,
    analytics.check,
    quotas.check,
    delivery.check,
    cdn.check,
    notifications.check,
    ratelimit.check,
    reports.check,
    bodies.check_settings,
    processing.check,
    server.check_settings,
    server_tls.check,
    auth.check,
    audit.check,
    storage.check,
    ops.check,
    replicas.check,
)


def check_settings(settings: Settings) -> Settings:
    """Run every feature's check; the settings back when all pass, else SettingsError."""
    for check in CHECKS:
        check(settings)
    return settings


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """``Settings.from_env`` and every check: the settings a process may start with."""
    return check_settings(Settings.from_env(environ, **overrides))
