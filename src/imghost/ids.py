"""Prefixed opaque identifiers with 128 bits of randomness.

Unlisted images are protected only by their id, so every id carries 16 random
bytes from the OS CSPRNG, written in lowercase base32 (26 characters).
"""

from __future__ import annotations

import base64
import secrets


def new_id(prefix: str) -> str:
    raw = base64.b32encode(secrets.token_bytes(16)).decode("ascii").rstrip("=").lower()
    return f"{prefix}_{raw}"


# Every prefix ``new_id`` is called with (a unit test greps the sources to keep
# this complete). Usernames may not start with one followed by ``_``: a name
# shown beside ids, and accepted wherever a user id is (``sharedWith``,
# ``/v1/users/{id}/images``), must never read as one.
ID_PREFIXES = (
    "alb",
    "exp",
    "img",
    "inv",
    "job",
    "key",
    "lck",
    "lnk",
    "mfa",
    "ntf",
    "org",
    "psh",
    "qr",
    "rc",
    "rpt",
    "rt",
    "scr",
    "ses",
    "tkd",
    "u",
    "upl",
    "whd",
    "whk",
)


def looks_like_id(text: str) -> bool:
    """Whether ``text`` starts like an id (``u_…``, ``img_…``), in any case."""
    head, sep, _ = text.lower().partition("_")
    return bool(sep) and head in ID_PREFIXES
