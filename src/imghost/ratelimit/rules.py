"""Rate-limit rules as written in settings, e.g.
``uploads=60/minute; upload_bytes=1GB/hour; views=1200/minute``.

Pure parsing, no I/O: :mod:`imghost.ratelimit.config` checks the settings with it at
start-up.
A category left out of a plan's rules is not limited for that plan; an empty
string (or ``off``) limits nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import limits
from limits import RateLimitItem

Category = Literal["uploads", "upload_bytes", "views"]
CATEGORIES: tuple[Category, ...] = ("uploads", "upload_bytes", "views")

# Decimal and binary units, as IMGHOST_MAX_FILE_SIZE takes them.
_UNITS = {
    "": 1,
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "TB": 1000**4,
    "KIB": 1024,
    "MIB": 1024**2,
    "GIB": 1024**3,
    "TIB": 1024**4,
}
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$")
_PERIOD = re.compile(r"^(?:(\d+)\s*)?(second|minute|hour|day)s?$", re.IGNORECASE)


@dataclass(frozen=True)
class Rule:
    category: Category
    item: RateLimitItem

    @property
    def window(self) -> int:
        """The window's length in seconds."""
        return int(self.item.get_expiry())

    def describe_window(self) -> str:
        """``minute``, ``5 minutes``, ``hour``: for sentences."""
        unit = self.item.GRANULARITY.name
        n = self.item.multiples
        return unit if n == 1 else f"{n} {unit}s"


PlanRules = dict[Category, Rule]


def parse_size(text: str) -> int:
    found = _SIZE.match(text.strip())
    if not found or found.group(2).upper() not in _UNITS:
        raise ValueError(f"{text!r} is not a size (e.g. 500MB, 1GiB, 1000000)")
    return int(float(found.group(1)) * _UNITS[found.group(2).upper()])


def parse_rule(category: Category, value: str) -> Rule:
    amount_text, sep, period_text = value.partition("/")
    if not sep:
        raise ValueError(f"{category}={value!r}: expected AMOUNT/PERIOD, e.g. 60/minute")
    if category == "upload_bytes":
        amount = parse_size(amount_text)
    elif amount_text.strip().isdigit():
        amount = int(amount_text.strip())
    else:
        raise ValueError(f"{category}={value!r}: {amount_text.strip()!r} is not a whole number")
    if amount <= 0:
        raise ValueError(f"{category}={value!r}: the amount must be positive")
    period = _PERIOD.match(period_text.strip())
    if not period:
        raise ValueError(
            f"{category}={value!r}: the period must be second, minute, hour or day, "
            "optionally with a count (e.g. 5 minutes)"
        )
    multiple = period.group(1) or "1"
    if int(multiple) <= 0:
        raise ValueError(f"{category}={value!r}: the period count must be positive")
    item = limits.parse(f"{amount} per {multiple} {period.group(2).lower()}")
    return Rule(category, item)


def parse_rules(text: str) -> PlanRules:
    """``category=AMOUNT/PERIOD`` pairs separated by ``;``; raises ValueError."""
    rules: PlanRules = {}
    if text.strip().lower() in ("", "off", "none"):
        return rules
    for part in text.split(";"):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        name = name.strip().lower()
        if not sep:
            raise ValueError(f"{part.strip()!r}: expected CATEGORY=AMOUNT/PERIOD")
        if name not in CATEGORIES:
            raise ValueError(f"unknown category {name!r} (known: {', '.join(CATEGORIES)})")
        category: Category = name  # narrowed by the membership test above
        if category in rules:
            raise ValueError(f"{category} is given twice")
        rules[category] = parse_rule(category, value.strip())
    return rules
