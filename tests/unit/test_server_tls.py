"""imghost.server_tls: the checks that refuse a TLS setup at start-up, the
config worker processes build their context from, and the reload on SIGHUP."""

from __future__ import annotations

import logging
import pickle
import shutil
import ssl
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from imghost.checks import check_settings
from imghost.server import ServerConfig, build_config
from imghost.server_protocol import LimitedHttpToolsProtocol
from imghost.server_tls import hsts_header, reload_certificate
from imghost.settings import Settings, SettingsError
from imghost.tls.devcert import write_pair
from tests.helpers.tls import TestCA, memory_handshake

SECRET = "unit-test-secret-key-long-enough-0123456789"


async def app(scope: Any, receive: Any, send: Any) -> None:
    """A do-nothing ASGI app: these tests stop at the TLS context."""


def settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(secret_key=SECRET, data_dir=str(tmp_path / "data"), **overrides)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("ca"))


def test_tls_off_is_plain_http_without_hsts(tmp_path: Path) -> None:
    plain = settings(tmp_path)
    assert plain.public_base_url == "http://127.0.0.1:8000"
    assert hsts_header(plain) == ""
    assert build_config(plain, app).is_ssl is False


def test_a_usable_pair_serves_https_with_hsts(tmp_path: Path, ca: TestCA) -> None:
    leaf = ca.issue("localhost")
    tls = check_settings(
        settings(tmp_path, tls_cert_file=str(leaf.cert), tls_key_file=str(leaf.key))
    )
    assert tls.public_base_url == "https://127.0.0.1:8000"  # the default follows TLS
    assert hsts_header(tls) == "max-age=31536000"
    assert hsts_header(Settings(**{**tls.__dict__, "tls_hsts": ""})) == ""


def test_refusals_name_the_setting_and_the_problem(tmp_path: Path, ca: TestCA) -> None:
    a, b = ca.issue("a.test"), ca.issue("b.test")
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello\n")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"tls_cert_file": str(a.cert)}, "IMGHOST_TLS_CERT_FILE is set but IMGHOST_TLS_KEY_FILE"),
        ({"tls_key_file": str(a.key)}, "IMGHOST_TLS_KEY_FILE is set but IMGHOST_TLS_CERT_FILE"),
        (
            {"tls_cert_file": str(tmp_path / "missing.pem"), "tls_key_file": str(a.key)},
            "missing.pem' cannot be read: No such file",
        ),
        (
            {"tls_cert_file": str(a.cert), "tls_key_file": str(b.key)},
            "does not belong to the certificate",
        ),
        (
            {"tls_cert_file": str(not_pem), "tls_key_file": str(a.key)},
            "not a usable PEM certificate chain",
        ),
        ({"tls_redirect_port": 8080}, "set IMGHOST_TLS_CERT_FILE and IMGHOST_TLS_KEY_FILE too"),
        ({"tls_redirect_port": 70000}, "IMGHOST_TLS_REDIRECT_PORT must be a port number"),
        ({"tls_redirect_port": 8000}, "must differ from IMGHOST_PORT"),
        ({"tls_hsts": "31536000"}, "IMGHOST_TLS_HSTS must start with max-age="),
        ({"tls_ca_file": str(tmp_path / "nope.pem")}, "IMGHOST_TLS_CA_FILE: the CA file"),
        ({"tls_ca_file": str(not_pem)}, "holds no usable PEM certificate"),
    ]
    for overrides, message in cases:
        with pytest.raises(SettingsError, match="IMGHOST_TLS_") as refused:
            check_settings(settings(tmp_path, **overrides))
        assert message in str(refused.value), overrides


def test_worker_processes_build_the_restricted_context(tmp_path: Path, ca: TestCA) -> None:
    leaf = ca.issue("localhost")
    tls = settings(tmp_path, tls_cert_file=str(leaf.cert), tls_key_file=str(leaf.key))
    config = build_config(tls, app, workers=2)
    # workers > 1: the config is pickled into each process, which loads it there.
    copy = pickle.loads(pickle.dumps(config))
    assert isinstance(copy, ServerConfig)
    copy.load()
    assert copy.http_protocol_class is LimitedHttpToolsProtocol
    assert copy.ssl is not None
    assert copy.ssl.minimum_version == ssl.TLSVersion.TLSv1_2
    tls12 = {c["name"] for c in copy.ssl.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert tls12
    assert all(n.startswith("ECDHE-") and ("GCM" in n or "CHACHA20" in n) for n in tls12), tls12


def test_reload_serves_the_new_pair_and_keeps_the_old_one_when_broken(
    tmp_path: Path, ca: TestCA, caplog: pytest.LogCaptureFixture
) -> None:
    first, second, third = ca.issue("localhost"), ca.issue("localhost"), ca.issue("localhost")
    cert, key = tmp_path / "live.crt", tmp_path / "live.key"
    shutil.copy(first.cert, cert)
    shutil.copy(first.key, key)
    config = build_config(settings(tmp_path, tls_cert_file=str(cert), tls_key_file=str(key)), app)
    config.load()
    assert config.ssl is not None
    client = ca.client_context()

    def serial() -> int:
        assert config.ssl is not None
        der = memory_handshake(config.ssl, client, "localhost")
        return x509.load_der_x509_certificate(der).serial_number

    def serial_of(path: Path) -> int:
        return x509.load_pem_x509_certificate(path.read_bytes()).serial_number

    assert serial() == serial_of(first.cert)
    shutil.copy(second.cert, cert)
    shutil.copy(second.key, key)
    assert reload_certificate(config) is True
    assert serial() == serial_of(second.cert)  # the same live context, the new pair

    shutil.copy(third.cert, cert)  # a certificate whose key was not put in place
    with caplog.at_level(logging.ERROR, "imghost.server"):
        assert reload_certificate(config) is False
    assert "not reloaded, the previous one is still served" in caplog.text
    assert "does not belong to the certificate" in caplog.text
    assert serial() == serial_of(second.cert)


def test_dev_cert_pair_is_valid_for_its_names(tmp_path: Path) -> None:
    cert, key = write_pair(tmp_path / "dev", ("img.test", "10.1.2.3", "::1"))
    assert (key.stat().st_mode & 0o777) == 0o600
    parsed = x509.load_pem_x509_certificate(cert.read_bytes())
    names = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["img.test"]
    assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} == {"10.1.2.3", "::1"}
    server = settings(tmp_path, tls_cert_file=str(cert), tls_key_file=str(key))
    config = build_config(check_settings(server), app)
    config.load()
    assert config.ssl is not None
    client = ssl.create_default_context(cafile=cert)  # its own CA
    for name in ("img.test", "10.1.2.3"):
        memory_handshake(config.ssl, client, name)
    with pytest.raises(ssl.SSLCertVerificationError):
        memory_handshake(config.ssl, client, "other.test")
