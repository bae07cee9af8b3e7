"""Referrer host rules, pure: what an allow-list entry may be, and whether a
``Referer`` matches a list.

An entry is a host name (``example.com``: that host only) or a wildcard
(``*.example.com``: every host under example.com at any depth, not
example.com itself). Entries are stored lower case, without a trailing dot,
international names in their ASCII (punycode) form, which is what browsers
send in ``Referer``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_HOSTS = 100
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_NOT_A_HOST = re.compile(r"[/:@?#\s]")


class BadHost(ValueError):
    """An allow-list entry that is not a host name or wildcard (the message says why)."""


def normalize(entry: str) -> str:
    """The stored form of an entry; BadHost when it cannot be one."""
    text = entry.strip().lower().rstrip(".")
    if not text:
        raise BadHost("an entry is empty")
    if _NOT_A_HOST.search(text):
        raise BadHost(f"{entry!r} is not a host name: give example.com, not a URL or address")
    wildcard = text.startswith("*.")
    name = text[2:] if wildcard else text
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        raise BadHost(f"{entry!r} is not a valid host name") from None
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise BadHost(
            f"{entry!r} is not a valid host name (letters, digits and hyphens; a wildcard "
            "only as a leading *.)"
        )
    if wildcard and len(labels) < 2:
        raise BadHost(f"{entry!r} would allow a whole top-level domain: name a domain")
    return f"*.{name}" if wildcard else name


def normalize_all(entries: Iterable[str]) -> list[str]:
    """Every entry normalised, duplicates dropped, in the order given."""
    seen: dict[str, None] = {}
    for entry in entries:
        seen.setdefault(normalize(entry), None)
    return list(seen)


def referer_host(referer: str | None) -> str | None:
    """The host a ``Referer`` names; None when there is none to judge by (no
    header, or one without a host, as privacy tools and some apps send)."""
    if not referer:
        return None
    try:
        host = urlsplit(referer.strip()).hostname
    except ValueError:
        return None
    return host.rstrip(".") if host else None


@dataclass(frozen=True)
class AllowList:
    """An account's list, compiled for matching in a few set lookups."""

    exact: frozenset[str]
    domains: frozenset[str]  # the `*.` entries without their `*.`

    @classmethod
    def of(cls, entries: Iterable[str]) -> AllowList:
        exact, domains = set(), set()
        for entry in entries:
            if entry.startswith("*."):
                domains.add(entry[2:])
            else:
                exact.add(entry)
        return cls(frozenset(exact), frozenset(domains))

    def allows(self, host: str) -> bool:
        if host in self.exact:
            return True
        dot = host.find(".")
        while dot != -1:
            if host[dot + 1 :] in self.domains:
                return True
            dot = host.find(".", dot + 1)
        return False
