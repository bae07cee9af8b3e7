"""Notification kinds and webhook subscriptions to them.

A kind is a dotted name (``share.image``). A webhook subscribes to exact
kinds, to every kind under a prefix (``share.*``) or to everything (``*``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# What imghost sends today; other kinds are accepted in subscriptions so a
# webhook can subscribe before a feature starts sending one.
KNOWN = (
    "quota.warning",
    "quota.bandwidth_warning",
    "share.image",
    "share.album",
    "org.invitation",
    "account.password_changed",
    "account.mfa_changed",
    # Moderation (moderation/): in-app and e-mail like the account kinds above.
    "account.suspended",
    "account.unsuspended",
    "image.taken_down",
    "image.reinstated",
    # Webhooks only (no in-app notification, no e-mail): images.services.announce;
    # except image.quarantined by the malware scanner (images.services.tell_quarantined).
    "image.uploaded",
    "image.ready",
    "image.failed",
    "image.quarantined",
    "image.deleted",
    "image.restored",
    "image.purged",
    "export.ready",
    # The reporter's acknowledgement (reports.services.file_report).
    "report.received",
    # To site admins: a scrub found damaged originals (processing.scrub_runs).
    "integrity.damaged",
)

_PATTERN = re.compile(r"^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?)$")


def valid_pattern(pattern: str) -> bool:
    return len(pattern) <= 64 and _PATTERN.match(pattern) is not None


def matches(pattern: str, kind: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return kind.startswith(pattern[:-1])
    return pattern == kind


def subscribed(patterns: Iterable[str], kind: str) -> bool:
    return any(matches(p, kind) for p in patterns)
