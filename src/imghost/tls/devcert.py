"""``imghost dev-cert``: a self-signed certificate for local HTTPS.

For a developer's own machine only: no browser or client trusts it until told
to (``curl --cacert``, the OS trust store). It is its own CA (``CA:TRUE``), so
the one file serves both as the server's certificate and as what a client
trusts. ECDSA P-256: small, fast, and accepted by every TLS 1.2+ client.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1")
CERT_NAME = "cert.pem"
KEY_NAME = "key.pem"
DAYS = 825  # the longest validity Apple's clients accept for a server certificate


def _subject_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name.strip("[]")))
    except ValueError:
        return x509.DNSName(name)


def make_pair(names: tuple[str, ...] = DEFAULT_NAMES, days: int = DAYS) -> tuple[bytes, bytes]:
    """(certificate PEM, unencrypted PKCS#8 key PEM) valid for ``names``."""
    if not names:
        raise ValueError("at least one host name or address is needed")
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"imghost dev ({names[0]})")])
    # A little in the past: a client whose clock is behind still accepts it.
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([_subject_name(n) for n in names]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def write_pair(out_dir: Path, names: tuple[str, ...] = DEFAULT_NAMES) -> tuple[Path, Path]:
    """Write ``cert.pem`` and ``key.pem`` (mode 600) into ``out_dir``; their paths."""
    cert_pem, key_pem = make_pair(names)
    out_dir.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = out_dir / CERT_NAME, out_dir / KEY_NAME
    # The key is created unreadable to others before a byte of it is written.
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_pem)
    cert_path.write_bytes(cert_pem)
    return cert_path, key_path
