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
