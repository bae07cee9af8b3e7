"""HTTPS without a proxy (issue 18): real TLS clients against the live server.

One HTTPS live server for the module, built by imghost.server as `imghost
serve` builds it, presenting a certificate made by `imghost dev-cert`'s code.
TLS is below every route, so one backend combination shows it.

The refusal of TLS 1.0 and 1.1 is only worth something if the client offers
them: OpenSSL 3 will not by default (security level 1 and up forbid them), so
the clients here run at ``@SECLEVEL=0``, and each refusal is paired with a
control server that accepts the old versions, where the same client is shown
to negotiate them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import shutil
import socket
import ssl
import subprocess
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from imghost.server import redirect_config
from imghost.server_tls import RedirectListener
from imghost.tls.devcert import write_pair
from tests.conftest import LiveServer
from tests.factories import image_bytes, make_user, upload_ok
from tests.integration.moderation.world import module_settings
from tests.integration.tus.helpers import status, upload_whole

OLD_VERSIONS = [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1]
OPENSSL_FLAG = {ssl.TLSVersion.TLSv1: "-tls1", ssl.TLSVersion.TLSv1_1: "-tls1_1"}
AT_SECLEVEL_0 = ("-cipher", "DEFAULT:@SECLEVEL=0")
OPENSSL_NAME = {ssl.TLSVersion.TLSv1: "TLSv1", ssl.TLSVersion.TLSv1_1: "TLSv1.1"}
# What TLS 1.2 may negotiate: ECDHE key exchange, AEAD ciphers.
TLS12_AEAD = {
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
}


@dataclasses.dataclass(frozen=True)
class Https:
    live: LiveServer
    cert: Path  # dev-cert's certificate: its own CA, so also what clients trust
    key: Path

    def trusting(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.cert)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.live.url, verify=self.trusting(), timeout=60)


@pytest.fixture(scope="module")
def https(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Https]:
    tmp = tmp_path_factory.mktemp("tls")
    cert, key = write_pair(tmp / "cert")
    for settings in module_settings(request, "sqlite-local", tmp):
        tls = dataclasses.replace(settings, tls_cert_file=str(cert), tls_key_file=str(key))
        with LiveServer(tls) as live:
            yield Https(live, cert, key)


@pytest.fixture
def client(https: Https) -> Iterator[httpx.Client]:
    with https.client() as c:
        yield c


# --- the old versions: offered, and refused -------------------------------------------


def old_client(version: ssl.TLSVersion, up_to: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    """A client that offers ``version`` (to ``up_to``), old ones included (SECLEVEL=0)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():  # the old versions are deprecated: that is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = version
        ctx.maximum_version = up_to or version
    return ctx


@contextlib.contextmanager
def control_server(cert: Path, key: Path) -> Iterator[int]:
    """A TLS server that accepts TLS 1.0 and up: the clients' control. Its port."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # closed: the test is over
            with conn, contextlib.suppress(OSError):
                ctx.wrap_socket(conn, server_side=True).close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone does not)
        listener.close()
        thread.join(5)


def handshake(port: int, ctx: ssl.SSLContext, name: str = "127.0.0.1") -> ssl.SSLSocket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        return ctx.wrap_socket(sock, server_hostname=name)
    except BaseException:
        sock.close()
        raise


@pytest.mark.parametrize("version", OLD_VERSIONS, ids=["tls1.0", "tls1.1"])
def test_old_versions_are_refused_by_a_client_that_offers_them(
    https: Https, version: ssl.TLSVersion
) -> None:
    ctx = old_client(version)
    with control_server(https.cert, https.key) as port, handshake(port, ctx) as tls:
        assert tls.version() == OPENSSL_NAME[version]  # the client does offer it
    # Refused. (asyncio closes a failed handshake before its alert is sent: the
    # client sees either the protocol_version alert or the connection end.)
    with pytest.raises(ssl.SSLError, match=r"PROTOCOL_VERSION|UNEXPECTED_EOF|EOF occurred"):
        handshake(https.live.port, ctx).close()
    # The same client allowed TLS 1.2 as well is served, with 1.2: what the
    # server refuses is the version, not the client's suites or security level.
    with handshake(https.live.port, old_client(version, ssl.TLSVersion.TLSv1_2)) as tls:
        assert tls.version() == "TLSv1.2"


@pytest.mark.parametrize("version", OLD_VERSIONS, ids=["tls1.0", "tls1.1"])
def test_old_versions_are_refused_to_openssl_s_client(
    https: Https, version: ssl.TLSVersion
) -> None:
    openssl = shutil.which("openssl")
    assert openssl, "the openssl command is needed (Debian: openssl)"

    def s_client(port: int, flag: str = OPENSSL_FLAG[version]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [openssl, "s_client", "-connect", f"127.0.0.1:{port}", flag, *AT_SECLEVEL_0],
            input="",
            capture_output=True,
            text=True,
            timeout=30,
        )

    with control_server(https.cert, https.key) as port:
        control = s_client(port)
    assert f"Protocol  : {OPENSSL_NAME[version]}\n" in control.stdout, control.stdout
    assert "Cipher is (NONE)" not in control.stdout  # a session was made
    refused = s_client(https.live.port)
    assert refused.returncode != 0
    assert "Cipher is (NONE)" in refused.stdout, refused.stdout  # no session
    # The same command at TLS 1.2 is served.
    assert "Protocol  : TLSv1.2" in s_client(https.live.port, "-tls1_2").stdout


# --- what works -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=["tls1.2", "tls1.3"]
)
@pytest.mark.parametrize("name", ["localhost", "127.0.0.1"])
def test_tls_1_2_and_1_3_verify_and_use_aead_suites(
    https: Https, version: ssl.TLSVersion, name: str
) -> None:
    ctx = https.trusting()  # chain and host name checked
    ctx.minimum_version = ctx.maximum_version = version
    with handshake(https.live.port, ctx, name) as tls:
        assert tls.version() == ("TLSv1.2" if version == ssl.TLSVersion.TLSv1_2 else "TLSv1.3")
        negotiated = tls.cipher()
        assert negotiated is not None
        suite = negotiated[0]
        if version == ssl.TLSVersion.TLSv1_2:
            assert suite in TLS12_AEAD
        else:
            assert suite.startswith(("TLS_AES_", "TLS_CHACHA20_"))
        tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert tls.recv(65536).startswith(b"HTTP/1.1 200 ")


def test_tls_1_2_without_forward_secrecy_or_aead_is_refused(https: Https) -> None:
    ctx = https.trusting()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384:AES128-GCM-SHA256")
    with pytest.raises(ssl.SSLError, match=r"HANDSHAKE_FAILURE|NO_SHARED_CIPHER|EOF"):
        handshake(https.live.port, ctx).close()


def test_an_untrusted_client_does_not_accept_the_certificate(https: Https) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(https.live.port, ssl.create_default_context()).close()


def test_hsts_is_on_every_answer(client: httpx.Client) -> None:
    answers = [
        client.get("/healthz"),  # JSON
        client.get("/v1/images/nope"),  # a problem
        client.get("/"),  # a page
        client.options("/v1/tus/"),
    ]
    for r in answers:
        assert r.headers["strict-transport-security"] == "max-age=31536000", r.url


def test_the_protocol_limits_hold_over_tls(client: httpx.Client) -> None:
    # LimitedHttpToolsProtocol parses the decrypted bytes: its answers get through.
    r = client.get("/healthz?" + "a" * 17 * 1024)
    assert r.status_code == 414
    assert r.json()["code"] == "uri_too_long"


def test_multipart_upload_and_delivery_over_tls(client: httpx.Client, https: Https) -> None:
    user = make_user(client)
    data = image_bytes("JPEG", size=(320, 240))
    image = upload_ok(client, user, data=data, visibility="public")
    base = f"https://127.0.0.1:{https.live.port}"
    assert https.live.settings.public_base_url == base
    assert image["url"].startswith(f"{base}/")  # the base URL clients are given is https
    original = client.get(f"/images/{image['imageId']}", headers=user.headers)
    assert original.status_code == 200
    assert hashlib.sha256(original.content).digest() == hashlib.sha256(data).digest()
    assert original.headers["strict-transport-security"] == "max-age=31536000"
    ranged = client.get(
        f"/images/{image['imageId']}", headers={**user.headers, "Range": "bytes=0-99"}
    )
    assert ranged.status_code == 206
    assert ranged.content == data[:100]


def test_tus_upload_over_tls(client: httpx.Client, https: Https) -> None:
    user = make_user(client)
    data = image_bytes("PNG", size=(300, 200))
    path = upload_whole(client, user, data, chunk=len(data) // 3 + 1)
    info = status(client, user, path)
    assert info["status"] == "completed"
    assert info["offset"] == len(data)
    original = client.get(f"/images/{info['imageId']}", headers=user.headers)
    assert hashlib.sha256(original.content).digest() == hashlib.sha256(data).digest()


# --- the plain-HTTP port --------------------------------------------------------------


def test_the_redirect_listener_answers_308_to_https(https: Https) -> None:
    settings = dataclasses.replace(https.live.settings, tls_redirect_port=1)
    listener = socket.create_server(("127.0.0.1", 0))  # listening: connects queue up at once
    redirect = RedirectListener(
        redirect_config(settings, host="127.0.0.1", log_level="warning"), [listener]
    )
    redirect.start()
    try:
        plain = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with httpx.Client(base_url=plain, timeout=30) as c:
            r = c.post("/v1/images?x=1&y=%2F", content=b"never read")
            other = c.get("/a%20b", headers={"Host": "evil.example"})
    finally:
        redirect.stop()
        listener.close()
    assert r.status_code == 308
    assert r.headers["location"] == f"{https.live.url}/v1/images?x=1&y=%2F"
    assert r.content == b""
    assert other.status_code == 308
    # The target as sent, under the base URL: the Host header is never used.
    assert other.headers["location"] == f"{https.live.url}/a%20b"
