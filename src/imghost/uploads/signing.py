"""Signed upload URLs of the API itself, for stores that cannot presign (local files).

The signature is the hex HMAC of ``upload-put\\n{upload_id}\\n{expires}``
under the server secret (``IMGHOST_SECRET_KEY``), through the one signer of
:mod:`imghost.signing`. Not the rotating URL keys: those may be handed to a
CDN edge to check read links, and must not let it write uploads.
"""

from __future__ import annotations

from imghost.signing import UPLOAD_PUT, SigningKeys, sign, verify


def sign_upload(secret: str, upload_id: str, expires: int) -> str:
    return sign(SigningKeys.single(secret), UPLOAD_PUT, upload_id, str(expires))[1]


def verify_upload(secret: str, upload_id: str, expires: int, signature: str) -> bool:
    keys = SigningKeys.single(secret)
    return verify(keys, UPLOAD_PUT, keys.current, signature, upload_id, str(expires))
