"""Key-encryption keys: what wraps each blob's data key.

:class:`KeyEncryptionKeys` is the whole interface a key service must offer:
wrap a data key under the current key, unwrap one under any key it knows. The
:class:`Keyring` here holds the keys themselves, from ``IMGHOST_ENCRYPTION_KEYS``
(``KID:BASE64KEY[,...]``, the first one wraps, all of them unwrap) or the file
``IMGHOST_ENCRYPTION_KEYS_FILE`` names. A KMS (AWS KMS, Vault transit, ...)
fits behind the same two methods; docs/OPERATIONS.md says how.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

KEY_BYTES = 32  # AES-256
_KID = re.compile(r"^[A-Za-z0-9._-]{1,31}$")


class KeySettingError(Exception):
    """A key setting that cannot be used (the message says why)."""


class UnknownKey(LookupError):
    """A blob names a key-encryption key this install does not have."""


class KeyEncryptionKeys(Protocol):
    @property
    def current(self) -> str:
        """The id of the key new data keys are wrapped under."""
        ...

    def wrap(self, data_key: bytes) -> tuple[str, bytes]:
        """``(kid, wrapped)`` under the current key."""
        ...

    def unwrap(self, kid: str, wrapped: bytes) -> bytes:
        """The data key; UnknownKey if ``kid`` is not here, or the wrap is bad."""
        ...


class Keyring:
    def __init__(self, keys: dict[str, bytes], current: str) -> None:
        self._keys = keys
        self._current = current

    @property
    def current(self) -> str:
        return self._current

    def wrap(self, data_key: bytes) -> tuple[str, bytes]:
        return self._current, aes_key_wrap(self._keys[self._current], data_key)

    def unwrap(self, kid: str, wrapped: bytes) -> bytes:
        key = self._keys.get(kid)
        if key is None:
            raise UnknownKey(f"no key-encryption key {kid!r} (IMGHOST_ENCRYPTION_KEYS)")
        try:
            return aes_key_unwrap(key, wrapped)
        except InvalidUnwrap as exc:
            raise UnknownKey(f"the data key does not unwrap under key {kid!r}") from exc


def parse_keys(value: str) -> Keyring:
    """``KID:BASE64KEY[,KID:BASE64KEY...]`` → a Keyring (the first key wraps)."""
    keys: dict[str, bytes] = {}
    for item in re.split(r"[,\s]+", value.strip()):
        if not item:
            continue
        kid, sep, encoded = item.partition(":")
        if not sep or not _KID.match(kid):
            raise KeySettingError(
                f"{kid!r}: each key is KID:BASE64KEY, KID of 1-31 letters, digits, '.', '_', '-'"
            )
        if kid in keys:
            raise KeySettingError(f"key id {kid!r} appears twice")
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise KeySettingError(f"key {kid!r} is not valid base64") from exc
        if len(key) != KEY_BYTES:
            raise KeySettingError(f"key {kid!r} is {len(key)} bytes; AES-256 needs {KEY_BYTES}")
        keys[kid] = key
    if not keys:
        raise KeySettingError("no keys given")
    return Keyring(keys, next(iter(keys)))


def load_keys(value: str, file: str) -> Keyring | None:
    """The keyring the settings name (the variable, else the file), or None: no encryption."""
    if file:
        try:
            value = Path(file).read_text()
        except OSError as exc:
            raise KeySettingError(f"cannot read IMGHOST_ENCRYPTION_KEYS_FILE: {exc}") from exc
    if not value.strip():
        return None
    return parse_keys(value)


def new_key() -> str:
    """A fresh random key, base64 (for ``imghost keys new``)."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()
