"""`imghost dev-cert`, and `imghost serve` refusing a TLS setup before it starts."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from cryptography import x509
from typer.testing import CliRunner

from imghost.cli.commands import cli
from imghost.tls.contexts import server_context
from tests.helpers.tls import memory_handshake


def test_dev_cert_writes_a_pair_for_the_loopback_names(tmp_path: Path) -> None:
    out = tmp_path / "certs"
    result = CliRunner().invoke(cli, ["dev-cert", "--out", str(out)])
    assert result.exit_code == 0, result.output
    cert, key = out / "cert.pem", out / "key.pem"
    assert "imghost serve --tls-cert" in result.output
    assert (key.stat().st_mode & 0o777) == 0o600
    parsed = x509.load_pem_x509_certificate(cert.read_bytes())
    names = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert {str(a) for a in names.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    client = ssl.create_default_context(cafile=cert)
    memory_handshake(server_context(str(cert), str(key)), client, "localhost")


def test_dev_cert_takes_other_names(tmp_path: Path) -> None:
    out = tmp_path / "certs"
    args = ["dev-cert", "--out", str(out), "--host", "img.lan", "--host", "192.168.1.5"]
    assert CliRunner().invoke(cli, args).exit_code == 0
    client = ssl.create_default_context(cafile=out / "cert.pem")
    server = server_context(str(out / "cert.pem"), str(out / "key.pem"))
    memory_handshake(server, client, "img.lan")
    with pytest.raises(ssl.SSLCertVerificationError):
        memory_handshake(server, client, "localhost")


def test_serve_refuses_a_certificate_without_its_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    CliRunner().invoke(cli, ["dev-cert", "--out", str(tmp_path)])
    # serve puts its flags in the environment (for its worker processes):
    # registered here so that they are taken out again.
    for name in ("TLS_CERT_FILE", "TLS_KEY_FILE"):
        monkeypatch.setenv(f"IMGHOST_{name}", "")
    monkeypatch.setenv("IMGHOST_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(cli, ["serve", "--tls-cert", str(tmp_path / "cert.pem")])
    assert result.exit_code == 2
    said = " ".join(result.output.split())  # the console wraps long lines
    assert "IMGHOST_TLS_CERT_FILE is set but IMGHOST_TLS_KEY_FILE is not" in said
