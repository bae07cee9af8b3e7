"""The CDN purge settings, parsed once: checked at start-up (``check``) and
handed to the purge job (``purge_config``)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from imghost.cdn.templates import LISTS, Shape, TemplateError, names, shape
from imghost.settings import Settings, SettingsError

_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
MAX_BATCH = 1000


@dataclass(frozen=True)
class HttpPurge:
    method: str
    url: str
    headers: dict[str, str]
    body: str
    shape: Shape


@dataclass(frozen=True)
class CommandPurge:
    argv: tuple[str, ...]
    shape: Shape


@dataclass(frozen=True)
class PurgeConfig:
    http: HttpPurge | None
    command: CommandPurge | None
    base_url: str
    batch: int
    timeout: float
    attempts: int
    ca_file: str

    @property
    def configured(self) -> bool:
        return self.http is not None or self.command is not None


def _headers(raw: str) -> dict[str, str]:
    if not raw.strip():
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise SettingsError(
            'IMGHOST_CDN_PURGE_HEADERS must be a JSON object: {"Name": "value", …}'
        ) from None
    if not isinstance(parsed, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in parsed.items()
    ):
        raise SettingsError("IMGHOST_CDN_PURGE_HEADERS must map header names to strings")
    for name, value in parsed.items():
        if not _TOKEN.match(name) or "\r" in value or "\n" in value:
            raise SettingsError(f"IMGHOST_CDN_PURGE_HEADERS: {name!r} is not a usable header")
    return parsed


def _http(settings: Settings) -> HttpPurge | None:
    url = settings.cdn_purge_url.strip()
    if not url:
        if settings.cdn_purge_body or settings.cdn_purge_headers:
            raise SettingsError(
                "IMGHOST_CDN_PURGE_BODY and _HEADERS need IMGHOST_CDN_PURGE_URL to be set"
            )
        return None
    parts = urlsplit(url.replace("{", "").replace("}", ""))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError("IMGHOST_CDN_PURGE_URL must be an http:// or https:// URL")
    if any(n in LISTS for n in names(url)):
        raise SettingsError(
            "IMGHOST_CDN_PURGE_URL: list placeholders ({image_ids}, {paths}, …) go in the body, "
            "a header or a command; the URL takes {image_id}, {prefix}, {path} or {url}"
        )
    method = settings.cdn_purge_method.strip().upper()
    if not _TOKEN.match(method):
        raise SettingsError(f"IMGHOST_CDN_PURGE_METHOD {settings.cdn_purge_method!r} is no method")
    headers = _headers(settings.cdn_purge_headers)
    texts = [url, settings.cdn_purge_body, *headers.values()]
    try:
        found = shape(texts, "IMGHOST_CDN_PURGE_URL, _HEADERS and _BODY")
    except TemplateError as exc:
        raise SettingsError(str(exc)) from None
    return HttpPurge(method, url, headers, settings.cdn_purge_body, found)


def _command(settings: Settings) -> CommandPurge | None:
    raw = settings.cdn_purge_command.strip()
    if not raw:
        return None
    try:
        argv = json.loads(raw)
    except ValueError:
        argv = None
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise SettingsError(
            'IMGHOST_CDN_PURGE_COMMAND must be a JSON array of strings: ["aws", "cloudfront", …]'
        )
    try:
        found = shape(argv, "IMGHOST_CDN_PURGE_COMMAND")
    except TemplateError as exc:
        raise SettingsError(str(exc)) from None
    return CommandPurge(tuple(argv), found)


def purge_config(settings: Settings) -> PurgeConfig:
    """The parsed settings; SettingsError naming the first that cannot be used."""
    if not 1 <= settings.cdn_purge_batch <= MAX_BATCH:
        raise SettingsError(f"IMGHOST_CDN_PURGE_BATCH must be from 1 to {MAX_BATCH}")
    if not 0 < settings.cdn_purge_timeout < float("inf"):
        raise SettingsError("IMGHOST_CDN_PURGE_TIMEOUT must be a positive number of seconds")
    if settings.cdn_purge_attempts < 1:
        raise SettingsError("IMGHOST_CDN_PURGE_ATTEMPTS must be at least 1")
    http, command = _http(settings), _command(settings)
    base = (settings.cdn_purge_base_url or settings.public_base_url).rstrip("/")
    if urlsplit(base).scheme not in ("http", "https"):
        raise SettingsError("IMGHOST_CDN_PURGE_BASE_URL must be an http:// or https:// URL")
    return PurgeConfig(
        http,
        command,
        base,
        settings.cdn_purge_batch,
        settings.cdn_purge_timeout,
        settings.cdn_purge_attempts,
        settings.tls_ca_file,
    )


def check(settings: Settings) -> None:
    """Raise SettingsError naming the first CDN purge setting that cannot be used."""
    purge_config(settings)
