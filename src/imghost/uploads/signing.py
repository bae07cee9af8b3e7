"""Signed upload URLs of the API itself, for stores that cannot presign (local files)."""

from __future__ import annotations

import hashlib
import hmac


def _mac(secret: str, upload_id: str, expires: int) -> str:
    message = f"upload-put\n{upload_id}\n{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign_upload(secret: str, upload_id: str, expires: int) -> str:
    return _mac(secret, upload_id, expires)


def verify_upload(secret: str, upload_id: str, expires: int, signature: str) -> bool:
    return hmac.compare_digest(_mac(secret, upload_id, expires).encode(), signature.encode())
