"""One HMAC-SHA256 signer for everything imghost signs, and the signed-URL and
share-grant formats built on it.

Keys: a :class:`SigningKeys` ring maps key ids to secrets; the first signs,
every one verifies, so a key is rotated in by putting it first and an old one
retired once the last thing it signed has expired. ``IMGHOST_SIGNING_KEYS``
(``kid:secret[,kid:secret…]``) is the ring of signed URLs and share grants;
unset, it holds one key (kid ``k0``) derived from ``IMGHOST_SECRET_KEY``.
Other uses hold a ring of one key: the server secret for upload URLs and
export download links, a webhook's own secret for its deliveries.

Purposes: every signed message starts with its purpose's label and a newline
(``label\\nfield\\nfield…``). Labels are unique (checked when a purpose is
defined) and hold no newline, so a signature made for one purpose never
verifies as another's, even under the same key. All purposes are defined
below, where they can be seen to differ. The one exception is the webhook
format, which receivers check as ``t.body`` with no label: its key is the
webhook's own secret, which signs nothing else, and that separates it instead.

Access tokens are JWTs signed by PyJWT with ``IMGHOST_SECRET_KEY``
(``auth.tokens``), not with this ring: the signing keys are meant to be handed
to a CDN edge so it can check signed URLs on its own (docs/API.md), and a key
an edge holds must not be able to mint a sign-in.

A signed URL carries ``exp`` (unix seconds), ``perm`` (comma-separated,
sorted), ``kid`` (which key) and ``sig``: base64url, unpadded,
HMAC-SHA256(key[kid], "imghost-url-v1\\n" + path + "\\n" + exp + "\\n" + perm),
where ``path`` is the percent-decoded URL path (variant or transform
included; the query string is not). Any change to path, expiry, permissions
or key id breaks the signature. The scheme is simple on purpose: a CDN edge
function holding the keys can check it without calling us (docs/API.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Literal


class BadSignature(Exception):
    """The URL's signature, key id or expiry does not check out."""

    def __init__(self, message: str, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True)
class SigningKeys:
    """A key ring: key id -> secret; ``current`` signs, all of them verify."""

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

    @classmethod
    def single(cls, secret: str) -> SigningKeys:
        """A ring of one key, used as it is (kid ``k0``)."""
        return cls({"k0": secret.encode()}, "k0")


@dataclass(frozen=True)
class Purpose:
    """What a signature is for: the label that starts its messages, how the
    fields are joined and how the MAC is written."""

    label: str
    encoding: Literal["base64url", "hex"] = "base64url"
    separator: bytes = b"\n"
    # False only for a format that predates labels and whose keys sign nothing else.
    labelled: bool = True
    _labels: ClassVar[set[str]] = set()

    def __post_init__(self) -> None:
        if not self.label or "\n" in self.label or self.label in Purpose._labels:
            raise ValueError(f"signing purpose label {self.label!r} is empty, bad or taken")
        Purpose._labels.add(self.label)

    def message(self, fields: tuple[str | bytes, ...]) -> bytes:
        parts = [f if isinstance(f, bytes) else f.encode("utf-8") for f in fields]
        if self.labelled:
            return b"\n".join([self.label.encode("utf-8"), self.separator.join(parts)])
        return self.separator.join(parts)


# Every purpose, in one place. The labels of signed URLs, share grants and
# upload URLs are the first lines their messages have always had.
SIGNED_URL = Purpose("imghost-url-v1")
LINK_GRANT = Purpose("imghost-link-v1")
UPLOAD_PUT = Purpose("upload-put", encoding="hex")
# E-mailed one-time account tokens (password reset, e-mail verification), keyed
# by the server secret: auth.onetime.
ACCOUNT_TOKEN = Purpose("imghost-account-token-v1")
# Signed download links of data exports, keyed by the server secret (never the
# ring above, which an edge may hold): exports.links.
EXPORT_DOWNLOAD = Purpose("imghost-export-v1")
# Receivers verify hex HMAC(secret, f"{t}." + body): see notifications.signing.
WEBHOOK = Purpose("webhook", encoding="hex", separator=b".", labelled=False)


def _mac(key: bytes, purpose: Purpose, fields: tuple[str | bytes, ...]) -> str:
    digest = hmac.new(key, purpose.message(fields), hashlib.sha256).digest()
    if purpose.encoding == "hex":
        return digest.hex()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def sign(keys: SigningKeys, purpose: Purpose, *fields: str | bytes) -> tuple[str, str]:
    """``(kid, mac)``: the ring's current key signs ``fields`` for ``purpose``."""
    return keys.current, _mac(keys.keys[keys.current], purpose, fields)


def verify(keys: SigningKeys, purpose: Purpose, kid: str, mac: str, *fields: str | bytes) -> bool:
    """Whether ``mac`` is key ``kid``'s signature of ``fields`` for ``purpose``
    (constant-time; an unknown key id verifies nothing)."""
    key = keys.keys.get(kid)
    if key is None:
        return False
    return hmac.compare_digest(_mac(key, purpose, fields).encode(), mac.encode())


# --- signed URLs ---------------------------------------------------------------------


def sign_url(keys: SigningKeys, path: str, exp: int, permissions: list[str]) -> dict[str, str]:
    """The query parameters that make ``path`` a signed URL until ``exp``."""
    perm = ",".join(sorted(set(permissions)))
    kid, sig = sign(keys, SIGNED_URL, path, str(exp), perm)
    return {"exp": str(exp), "perm": perm, "kid": kid, "sig": sig}


def verify_url(keys: SigningKeys, path: str, params: Mapping[str, str], now: float) -> list[str]:
    """The permissions a signed URL grants, or BadSignature."""
    exp_raw, perm, kid, sig = (params.get(k, "") for k in ("exp", "perm", "kid", "sig"))
    if not exp_raw.isascii() or not exp_raw.isdigit() or len(exp_raw) > 12:
        raise BadSignature("This signed URL has no valid expiry.")
    if kid not in keys.keys:
        raise BadSignature("This signed URL was signed with a key that is no longer accepted.")
    exp = int(exp_raw)
    # str(int(...)): the expiry as signed, whatever leading zeros the query has.
    if not verify(keys, SIGNED_URL, kid, sig, path, str(exp), perm):
        raise BadSignature("This signed URL's signature does not match.")
    if exp <= now:
        raise BadSignature("This signed URL has expired.", expired=True)
    return perm.split(",") if perm else []


# --- share-link grants -----------------------------------------------------------------


def mint_link_grant(keys: SigningKeys, link_id: str, exp: int) -> str:
    """A short-lived credential for one resolved share link: ``linkId.exp.kid.sig``."""
    kid, sig = sign(keys, LINK_GRANT, link_id, str(exp))
    return f"{link_id}.{exp}.{kid}.{sig}"


def verify_link_grant(keys: SigningKeys, token: str, now: float) -> str:
    """The link id a grant was minted for, or BadSignature."""
    parts = token.split(".")
    if len(parts) != 4 or not parts[1].isascii() or not parts[1].isdigit() or len(parts[1]) > 12:
        raise BadSignature("This share token is malformed.")
    link_id, exp_raw, kid, sig = parts
    # The expiry as it appears in the token: that is what was signed.
    if not verify(keys, LINK_GRANT, kid, sig, link_id, exp_raw):
        raise BadSignature("This share token is not valid.")
    if int(exp_raw) <= now:
        raise BadSignature("This share token has expired; open the share link again.", True)
    return link_id
