"""Settings as declared data.

Every setting is declared once, as a field of one of the sections
(:mod:`imghost.settings.sections`): its name, its type (which gives the parser of its
``IMGHOST_*`` variable), its default and its help text. ``Settings`` is all the
sections together; ``DECLARED``, ``from_env`` and ``describe`` are derived from its
fields. Values are read from the environment (or passed explicitly) and handed to
``create_app``; nothing reads the environment later.

This package imports no feature. It checks only what it needs to build itself (the
choices of ``Literal`` fields, the data directory and secret key, the public URL,
the store's scheme, the log level and the trusted proxies). Each feature checks its
own settings in its ``config`` module, and the composition root runs them all at
start-up (:mod:`imghost.checks`).

A section is a frozen dataclass of its own, and ``Settings`` inherits from every
section, so a module that needs only, say, the upload limits takes an
``UploadSettings`` and is handed the whole ``Settings`` (or, in a test, a bare
``UploadSettings(max_frames=2)``).
"""

from __future__ import annotations

import ipaddress
import os
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cache
from typing import Any, Literal

from imghost.keyfile import KeyFileError, load_or_create
from imghost.proxies import parse_trusted_proxies
from imghost.settings.declare import Setting, SettingsError, Size, parser_for, setting
from imghost.settings.egress import CdnSettings, EgressSettings
from imghost.settings.operations import OpsSettings, ReplicaSettings
from imghost.settings.sections import (
    SECTIONS,
    AnalyticsSettings,
    BodySettings,
    DeliverySettings,
    HttpSettings,
    JobSettings,
    LifecycleSettings,
    NotificationSettings,
    QuotaSettings,
    RateLimitSettings,
    RenditionSettings,
    ServerSettings,
    SharingSettings,
    TlsSettings,
    TusSettings,
    UploadSettings,
)
from imghost.settings.security import AuditSettings, AuthSettings, ReportSettings, ScanSettings

__all__ = [
    "DECLARED",
    "SECTIONS",
    "AnalyticsSettings",
    "AuditSettings",
    "AuthSettings",
    "BodySettings",
    "CdnSettings",
    "DeliverySettings",
    "EgressSettings",
    "HttpSettings",
    "JobSettings",
    "LifecycleSettings",
    "NotificationSettings",
    "OpsSettings",
    "QuotaSettings",
    "RateLimitSettings",
    "RenditionSettings",
    "ReplicaSettings",
    "ReportSettings",
    "ScanSettings",
    "ServerSettings",
    "Setting",
    "Settings",
    "SettingsError",
    "SharingSettings",
    "Size",
    "TlsSettings",
    "TusSettings",
    "UploadSettings",
    "declared",
    "is_loopback_host",
    "mask_credentials",
    "setting",
]

GENERATE_KEY_HINT = "`openssl rand -base64 48`"


@dataclass(frozen=True)
class Settings(
    # A dataclass takes its bases' fields in reverse order; SECTIONS sets the listing order.
    AuditSettings,
    TlsSettings,
    OpsSettings,
    HttpSettings,
    RenditionSettings,
    ReplicaSettings,
    BodySettings,
    NotificationSettings,
    ReportSettings,
    RateLimitSettings,
    QuotaSettings,
    AnalyticsSettings,
    LifecycleSettings,
    ScanSettings,
    JobSettings,
    CdnSettings,
    EgressSettings,
    DeliverySettings,
    AuthSettings,
    TusSettings,
    UploadSettings,
    SharingSettings,
    ServerSettings,
):
    """Every setting. Building one fills the defaults that depend on others (paths
    under data_dir, the generated key, the public URL) and refuses a setup this
    module can judge alone; :func:`imghost.checks.check_settings` runs the rest."""

    def __post_init__(self) -> None:
        _check_choices(self)
        self._resolve_data_dir_and_key()
        if self.log_level.lower() not in ("debug", "info", "warning", "error", "critical"):
            raise SettingsError(f"IMGHOST_LOG_LEVEL {self.log_level!r} is not a log level")
        if not self.storage_url.startswith(("file://", "s3://")):
            raise SettingsError("IMGHOST_STORAGE_URL must start with file:// or s3://")
        try:
            parse_trusted_proxies(self.trusted_proxies)
        except ValueError as exc:
            raise SettingsError(f"IMGHOST_TRUSTED_PROXIES: {exc}") from exc
        scheme = "https" if self.tls_cert_file else "http"
        base = self.public_base_url or f"{scheme}://{self.host}:{self.port}"
        object.__setattr__(self, "public_base_url", base.rstrip("/"))

    def _resolve_data_dir_and_key(self) -> None:
        """Fill the paths under data_dir and the secret key; refuse a forgeable setup.

        There is no default key: a published one would let anyone forge tokens,
        signed URLs and share-link grants. An embedded install (one host, SQLite
        and local files) gets a random key generated once in its data directory;
        everywhere else the operator must set one, because processes on several
        hosts would each generate their own.
        """
        data_dir = self.data_dir.rstrip("/") or "/"
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite+aiosqlite:///{data_dir}/imghost.db")
        if not self.storage_url:
            object.__setattr__(self, "storage_url", f"file://{data_dir}/blobs")
        if not self.metrics_dir:
            object.__setattr__(self, "metrics_dir", f"{data_dir}/metrics")
        if self.secret_key and len(self.secret_key) < 32:
            raise SettingsError(
                "IMGHOST_SECRET_KEY must be a random value of at least 32 characters "
                f"(e.g. {GENERATE_KEY_HINT})"
            )
        if not is_loopback_host(self.host) and not (self.secret_key and self.public_base_url):
            raise SettingsError(
                f"IMGHOST_HOST={self.host} is reachable from other machines: set "
                f"IMGHOST_SECRET_KEY (e.g. {GENERATE_KEY_HINT}) and IMGHOST_PUBLIC_BASE_URL "
                "(the URL clients use, e.g. https://img.example.com), or bind 127.0.0.1"
            )
        if self.secret_key:
            return
        shared = [
            name
            for name, multi_host in (
                ("IMGHOST_DATABASE_URL is PostgreSQL", self.database_url.startswith("postgres")),
                ("IMGHOST_STORAGE_URL is S3", self.storage_url.startswith("s3://")),
            )
            if multi_host
        ]
        if self.env == "production" or shared:
            why = " and ".join(shared) if shared else "IMGHOST_ENV is production"
            raise SettingsError(
                f"IMGHOST_SECRET_KEY must be set ({why}: every process on every host needs "
                f"the same key): a random value of at least 32 characters, e.g. "
                f"{GENERATE_KEY_HINT}"
            )
        try:
            object.__setattr__(self, "secret_key", load_or_create(data_dir))
        except KeyFileError as exc:
            raise SettingsError(str(exc)) from exc

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from IMGHOST_* variables; explicit overrides win."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for declared_setting in DECLARED:
            raw = environ.get(declared_setting.variable)
            if raw is None:
                continue
            try:
                values[declared_setting.name] = declared_setting.parse(raw)
            except ValueError as exc:
                raise SettingsError(f"{declared_setting.variable}: {exc}") from exc
        values.update(overrides)
        return cls(**values)

    def describe(self) -> list[tuple[str, str, str]]:
        """(variable, value, help) rows, secrets masked: for `imghost settings`."""
        rows = []
        for declared_setting in DECLARED:
            value = getattr(self, declared_setting.name)
            shown = "********" if declared_setting.secret else mask_credentials(str(value))
            rows.append((declared_setting.variable, shown, declared_setting.help))
        return rows


def _check_choices(settings: Settings) -> None:
    """A ``Literal`` field holds one of its values (the type checker cannot see env input)."""
    for name, choices in _choices().items():
        value = getattr(settings, name)
        if value not in choices:
            raise SettingsError(
                f"IMGHOST_{name.upper()} must be {' or '.join(choices)}, not {value!r}"
            )


@cache
def _choices() -> dict[str, tuple[str, ...]]:
    hints = _hints()
    return {
        name: typing.get_args(hint)
        for name, hint in hints.items()
        if typing.get_origin(hint) is Literal
    }


@cache
def _hints() -> dict[str, Any]:
    # Annotations are strings (PEP 563); resolved once, with Annotated kept for Size.
    return typing.get_type_hints(Settings, include_extras=True)


def _declare() -> tuple[Setting, ...]:
    hints = _hints()
    return tuple(
        Setting(
            name=f.name,
            parse=parser_for(hints[f.name]),
            default=f.default,
            help=f.metadata["help"],
            secret=f.metadata["secret"],
        )
        for section in SECTIONS
        for f in fields(section)
    )


DECLARED: tuple[Setting, ...] = _declare()
_BY_NAME = {s.name: s for s in DECLARED}


def mask_credentials(value: str) -> str:
    """Hide passwords in URLs (user:pw@host) and secret query parameters."""
    # The user may be empty: redis://:password@host
    value = re.sub(r"(://[^:/@]*:)[^@/]+@", r"\1********@", value)
    return re.sub(r"((?:secret_access_key|password|token)=)[^&]+", r"\1********", value)


def is_loopback_host(host: str) -> bool:
    """Whether binding ``host`` serves this machine only (names other than localhost: no)."""
    if host.strip().lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def declared(name: str) -> Setting:
    return _BY_NAME[name]
