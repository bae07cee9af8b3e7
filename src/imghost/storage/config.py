"""The storage settings checked at start-up: the encryption keys, and what
encryption rules out."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from imghost.errors import problem
from imghost.settings import Settings, SettingsError
from imghost.storage.keys import Keyring, KeySettingError, load_keys


def keyring(settings: Settings) -> Keyring | None:
    """The key-encryption keys the settings name, or None: blobs are not encrypted."""
    try:
        return load_keys(settings.encryption_keys, settings.encryption_keys_file)
    except KeySettingError as exc:
        raise SettingsError(f"IMGHOST_ENCRYPTION_KEYS: {exc}") from exc


def check(settings: Settings) -> None:
    if keyring(settings) is not None and settings.delivery == "redirect":
        raise SettingsError(
            "IMGHOST_DELIVERY=redirect cannot be used with IMGHOST_ENCRYPTION_KEYS: a "
            "presigned URL would hand out the stored ciphertext. Use IMGHOST_DELIVERY=proxy "
            "(the API decrypts what it serves)"
        )


async def unreadable_blob(request: Request, exc: Exception) -> JSONResponse:
    """A blob that fails its authentication (tampered, cut short, or under a
    key this install lacks) is never served: the store logged which one."""
    return problem(
        500,
        "blob_unreadable",
        "The stored bytes of this item failed their integrity check and are not served; "
        "the operator has been told.",
        instance=request.url.path,
    )
