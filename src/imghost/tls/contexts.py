"""The SSLContexts: the one ``imghost serve`` answers with, and the one its own
requests (webhooks, SMTP, uploads from a URL) verify servers with.

Server: TLS 1.2 and 1.3 only. TLS 1.3's suites are all AEAD with forward
secrecy (OpenSSL's defaults are kept); TLS 1.2 is limited to ECDHE key
exchange with AES-GCM or ChaCha20-Poly1305 (Mozilla's "intermediate" profile
less its DHE suites), so no CBC, RSA key exchange, SHA-1 MAC or export suite
can be negotiated whatever the system's OpenSSL configuration allows.
"""

from __future__ import annotations

import functools
import ssl
from pathlib import Path

import certifi

MINIMUM_VERSION = ssl.TLSVersion.TLSv1_2
# TLS 1.2 suites; TLS 1.3 suites are configured apart by OpenSSL (all AEAD).
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


class TlsError(Exception):
    """A certificate, key or CA file that cannot be used: a sentence says why."""


def _readable(what: str, path: str) -> None:
    try:
        with Path(path).open("rb") as f:
            f.read(1)
    except OSError as exc:
        raise TlsError(f"{what} {path!r} cannot be read: {exc.strerror or exc}") from None


def server_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """A server context holding the pair; TlsError when it cannot be used."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = MINIMUM_VERSION
    ctx.set_ciphers(TLS12_CIPHERS)
    # Renegotiation (TLS 1.2) is a client-driven CPU cost and has no use here.
    ctx.options |= ssl.OP_NO_RENEGOTIATION | ssl.OP_NO_COMPRESSION
    load_pair(ctx, cert_file, key_file)
    return ctx


def load_pair(ctx: ssl.SSLContext, cert_file: str, key_file: str) -> None:
    """Load the certificate chain and key into ``ctx``; TlsError naming the problem."""
    _readable("the certificate file", cert_file)
    _readable("the key file", key_file)
    try:
        ctx.load_cert_chain(cert_file, key_file)
    except ssl.SSLError as exc:
        reason = exc.reason or str(exc)
        if "KEY_VALUES_MISMATCH" in str(exc) or reason == "KEY_VALUES_MISMATCH":
            raise TlsError(
                f"the key in {key_file!r} does not belong to the certificate in {cert_file!r}"
            ) from None
        raise TlsError(
            f"{cert_file!r} and {key_file!r} are not a usable PEM certificate chain and "
            f"unencrypted private key ({reason})"
        ) from None


def reload_pair(ctx: ssl.SSLContext, cert_file: str, key_file: str) -> None:
    """Replace the pair of a live server context: new handshakes use the new one.

    The pair is tried on a scratch context first: OpenSSL loads the certificate
    before it checks the key against it, so loading a mismatched pair into the
    live context would leave it with a certificate it has no key for. A pair
    that fails raises TlsError and leaves ``ctx`` as it was.
    """
    server_context(cert_file, key_file)
    load_pair(ctx, cert_file, key_file)


@functools.cache
def client_context(ca_file: str = "") -> ssl.SSLContext:
    """What the server's own TLS requests verify peers with: the public CAs
    (certifi, as httpx uses by default) plus those in ``ca_file``; host names
    checked; TLS 1.2 at least. One per process and CA file: loading the
    bundle costs tens of milliseconds, and a context is safe to share."""
    ctx = ssl.create_default_context(cafile=certifi.where())
    ctx.minimum_version = MINIMUM_VERSION
    if ca_file:
        _readable("the CA file", ca_file)
        try:
            ctx.load_verify_locations(cafile=ca_file)
        except ssl.SSLError as exc:
            raise TlsError(
                f"the CA file {ca_file!r} holds no usable PEM certificate ({exc.reason})"
            ) from None
    return ctx
