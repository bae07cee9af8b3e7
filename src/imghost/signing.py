"""Signed temporary URLs and share-link grants: HMAC-SHA256 with rotating keys.

A signed URL carries ``exp`` (unix seconds), ``perm`` (comma-separated,
sorted), ``kid`` (which key) and ``sig``: base64url, unpadded,
HMAC-SHA256(key[kid], "imghost-url-v1\\n" + path + "\\n" + exp + "\\n" + perm),
where ``path`` is the percent-decoded URL path (variant or transform
included; the query string is not). Any change to path, expiry, permissions
or key id breaks the signature. The scheme is simple on purpose: a CDN edge
function holding the keys can check it without calling us (docs/API.md).

Keys: ``IMGHOST_SIGNING_KEYS`` is ``kid:secret[,kid:secret…]``; the first
signs new URLs, all of them verify, so a new key is rotated in by putting it
first and an old one retired once its last URL has expired. Unset, one key
(kid ``k0``) is derived from ``IMGHOST_SECRET_KEY``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

SCHEME = "imghost-url-v1"
LINK_SCHEME = "imghost-link-v1"


class BadSignature(Exception):
    """The URL's signature, key id or expiry does not check out."""

    def __init__(self, message: str, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True)
class SigningKeys:
    keys: Mapping[str, bytes]
    current: str

    @classmethod
    def parse(cls, spec: str, fallback_secret: str) -> SigningKeys:
        """``kid:secret,kid:secret``; the first entry signs. Raises ValueError when malformed."""
        entries: dict[str, bytes] = {}
        first = ""
        for raw in (part.strip() for part in spec.split(",")):
            if not raw:
                continue
            kid, sep, secret = raw.partition(":")
            kid = kid.strip()
            if not sep or not kid.isalnum() or len(kid) > 16 or len(secret) < 16:
                raise ValueError(
                    "each key must be KID:SECRET with an alphanumeric KID of up to 16 characters "
                    "and a secret of at least 16 characters"
                )
            if kid in entries:
                raise ValueError(f"key id {kid!r} appears twice")
            entries[kid] = secret.encode()
            first = first or kid
        if not entries:
            derived = hmac.new(fallback_secret.encode(), b"signed-urls", hashlib.sha256).digest()
            return cls({"k0": derived}, "k0")
        return cls(entries, first)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _mac(key: bytes, message: str) -> str:
    return _b64(hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest())


def canonical(path: str, exp: int, perm: str) -> str:
    return f"{SCHEME}\n{path}\n{exp}\n{perm}"


def sign_url(keys: SigningKeys, path: str, exp: int, permissions: list[str]) -> dict[str, str]:
    """The query parameters that make ``path`` a signed URL until ``exp``."""
    perm = ",".join(sorted(set(permissions)))
    kid = keys.current
    return {
        "exp": str(exp),
        "perm": perm,
        "kid": kid,
        "sig": _mac(keys.keys[kid], canonical(path, exp, perm)),
    }


def verify_url(keys: SigningKeys, path: str, params: Mapping[str, str], now: float) -> list[str]:
    """The permissions a signed URL grants, or BadSignature."""
    exp_raw, perm, kid, sig = (params.get(k, "") for k in ("exp", "perm", "kid", "sig"))
    if not exp_raw.isascii() or not exp_raw.isdigit() or len(exp_raw) > 12:
        raise BadSignature("This signed URL has no valid expiry.")
    key = keys.keys.get(kid)
    if key is None:
        raise BadSignature("This signed URL was signed with a key that is no longer accepted.")
    exp = int(exp_raw)
    if not hmac.compare_digest(_mac(key, canonical(path, exp, perm)).encode(), sig.encode()):
        raise BadSignature("This signed URL's signature does not match.")
    if exp <= now:
        raise BadSignature("This signed URL has expired.", expired=True)
    return perm.split(",") if perm else []


def _link_message(link_id: str, exp: str) -> str:
    return f"{LINK_SCHEME}\n{link_id}\n{exp}"


def mint_link_grant(keys: SigningKeys, link_id: str, exp: int) -> str:
    """A short-lived credential for one resolved share link: ``linkId.exp.kid.sig``."""
    kid = keys.current
    sig = _mac(keys.keys[kid], _link_message(link_id, str(exp)))
    return f"{link_id}.{exp}.{kid}.{sig}"


def verify_link_grant(keys: SigningKeys, token: str, now: float) -> str:
    """The link id a grant was minted for, or BadSignature."""
    parts = token.split(".")
    if len(parts) != 4 or not parts[1].isascii() or not parts[1].isdigit() or len(parts[1]) > 12:
        raise BadSignature("This share token is malformed.")
    link_id, exp_raw, kid, sig = parts
    key = keys.keys.get(kid)
    if key is None or not hmac.compare_digest(
        _mac(key, _link_message(link_id, exp_raw)).encode(), sig.encode()
    ):
        raise BadSignature("This share token is not valid.")
    if int(exp_raw) <= now:
        raise BadSignature("This share token has expired; open the share link again.", True)
    return link_id
