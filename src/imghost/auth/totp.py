"""TOTP (RFC 6238) codes, their secrets at rest, and recovery codes: no I/O here.

Codes are the authenticator apps' default: six digits, 30-second steps,
HMAC-SHA1 (pyotp). A code is accepted one step either side of now, for clock
drift, and :func:`matching_step` says which step it matched so the caller can
refuse a step that was used already (a code seen over a shoulder or in a
proxy log cannot be replayed).

The secret must be readable by the server to compute codes, so it cannot be
hashed like a password. It is stored sealed with AES-256-GCM under a key
derived from the server secret (HKDF), bound to its user id: a leaked
database or backup alone holds no working second factor, and a sealed secret
copied onto another account's row does not open. The cost: the server secret
must not change while accounts are enrolled (docs/OPERATIONS.md).

Recovery codes are random (about 59 bits each) and stored as SHA-256 digests, like
API keys: high-entropy secrets need no slow hash.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import secrets

import pyotp
import segno
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

STEP = 30  # seconds per code (what every authenticator app assumes)
DIGITS = 6
DRIFT = 1  # steps accepted either side of now
RECOVERY_CODES = 10
_SEALED = "v1."
_NONCE = 12
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread


def new_secret() -> str:
    """A fresh base32 secret of 160 bits (RFC 4226's recommended length)."""
    return pyotp.random_base32(32)


def _key(server_secret: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"imghost totp secret v1")
    return hkdf.derive(server_secret.encode())


def seal(server_secret: str, user_id: str, secret: str) -> str:
    """The secret encrypted for storage on ``user_id``'s row."""
    nonce = secrets.token_bytes(_NONCE)
    sealed = AESGCM(_key(server_secret)).encrypt(nonce, secret.encode(), user_id.encode())
    return _SEALED + base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(server_secret: str, user_id: str, stored: str) -> str:
    """The secret :func:`seal` stored; raises ValueError when it does not open
    (another server secret, another user's row, or tampered)."""
    if not stored.startswith(_SEALED):
        raise ValueError("unknown TOTP secret format")
    try:
        raw = base64.urlsafe_b64decode(stored[len(_SEALED) :])
        plain = AESGCM(_key(server_secret)).decrypt(raw[:_NONCE], raw[_NONCE:], user_id.encode())
    except Exception as exc:  # bad base64, or cryptography's InvalidTag (it says no more)
        raise ValueError("the TOTP secret does not open under this server secret") from exc
    return plain.decode()


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The ``otpauth://totp/…`` URI authenticator apps read from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP).provisioning_uri(
        name=account, issuer_name=issuer
    )


def qr_data_uri(uri: str) -> str:
    """The URI as a QR code, an SVG ``data:`` URI a page can put in ``<img src>``."""
    return str(segno.make(uri, error="m").svg_data_uri(scale=4, border=2))


def normalize_code(code: str) -> str:
    """A code as typed: spaces and dashes dropped (``123 456``, ``abcd-efgh-jkmn``)."""
    return "".join(code.split()).replace("-", "").lower()


def matching_step(secret: str, code: str, now: dt.datetime) -> int | None:
    """The time step whose code ``code`` is (within :data:`DRIFT`), or None."""
    if len(code) != DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP)
    current = totp.timecode(now)
    found = None
    for step in range(current - DRIFT, current + DRIFT + 1):
        # Every candidate is compared, in constant time, and the loop never
        # stops early: how long a check takes says nothing about the code.
        if hmac.compare_digest(totp.generate_otp(step), code) and found is None:
            found = step
    return found


def looks_like_totp(code: str) -> bool:
    return len(code) == DIGITS and code.isdigit()


def new_recovery_codes() -> list[str]:
    """Fresh recovery codes as shown to the user: ``xxxx-xxxx-xxxx``."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(12))
        codes.append(f"{raw[:4]}-{raw[4:8]}-{raw[8:]}")
    return codes
