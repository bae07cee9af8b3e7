"""``IMGHOST_SMTP_URL`` parsed: where e-mail goes and how the connection is secured.

Pure (no imghost imports): :mod:`imghost.notifications.config` checks the setting with
it at start-up.

- ``smtp://[user:pass@]host[:port]`` (port 25): STARTTLS when the server
  offers it; ``?starttls=true`` requires it, ``?starttls=false`` never uses it.
- ``smtps://[user:pass@]host[:port]`` (port 465): TLS from the first byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

_BOOLS = {"1": True, "true": True, "yes": True, "on": True}
_BOOLS |= {"0": False, "false": False, "no": False, "off": False}


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool  # implicit TLS (smtps)
    start_tls: bool | None  # None: when offered; True: required; False: never


def parse_smtp_url(url: str) -> SmtpTarget:
    """Raise ValueError with a sentence when the URL cannot be used."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError("must start with smtp:// or smtps://")
    if not parts.hostname:
        raise ValueError("names no host")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("has an invalid port") from None
    implicit = parts.scheme == "smtps"
    start_tls: bool | None = None
    for key, values in parse_qs(parts.query).items():
        if key != "starttls":
            raise ValueError(f"unknown option {key!r} (only starttls)")
        raw = values[-1].lower()
        if raw not in _BOOLS:
            raise ValueError("starttls must be true or false")
        start_tls = _BOOLS[raw]
    if implicit and start_tls:
        raise ValueError("smtps:// is TLS already; starttls applies to smtp:// only")
    return SmtpTarget(
        host=parts.hostname,
        port=port or (465 if implicit else 25),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        use_tls=implicit,
        start_tls=False if implicit else start_tls,
    )
