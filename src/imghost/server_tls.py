"""``imghost serve`` over HTTPS: the settings' check, uvicorn's TLS options,
certificate reload on SIGHUP, and the plain-HTTP listener that redirects.

The context itself (versions, ciphers) is :mod:`imghost.tls.contexts`. uvicorn
builds it in ``Config.load()``, which runs in every server process (after a
``workers > 1`` config is pickled into it), through :func:`context_factory`, a
module-level function so that the config still pickles.

Reload: with one process, SIGHUP loads the files again into the live context;
new handshakes use the new pair, connections already open keep the old one. A
pair that cannot be used is logged and the old one kept. With ``workers > 1``,
uvicorn's supervisor answers SIGHUP by replacing its processes one at a time,
each new one loading the files; one that fails to start is killed and the old
processes keep serving.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import ssl
import threading
from collections.abc import Callable, Generator
from typing import Any

import uvicorn

from imghost.settings import Settings, SettingsError
from imghost.tls.contexts import TlsError, client_context, reload_pair, server_context

log = logging.getLogger("imghost.server")


def check(settings: Settings) -> None:
    """Raise SettingsError for a TLS setup that cannot serve: one file without
    the other, a file that cannot be read, a key that is not the certificate's."""
    cert, key = settings.tls_cert_file, settings.tls_key_file
    if bool(cert) != bool(key):
        given, missing = (
            ("IMGHOST_TLS_CERT_FILE", "IMGHOST_TLS_KEY_FILE")
            if cert
            else ("IMGHOST_TLS_KEY_FILE", "IMGHOST_TLS_CERT_FILE")
        )
        raise SettingsError(f"{given} is set but {missing} is not: HTTPS needs both")
    if cert:
        try:
            server_context(cert, key)
        except TlsError as exc:
            raise SettingsError(f"IMGHOST_TLS_CERT_FILE / IMGHOST_TLS_KEY_FILE: {exc}") from None
    if not 0 <= settings.tls_redirect_port <= 65535:
        raise SettingsError("IMGHOST_TLS_REDIRECT_PORT must be a port number, or 0 for none")
    if settings.tls_redirect_port and settings.tls_redirect_port == settings.port:
        raise SettingsError("IMGHOST_TLS_REDIRECT_PORT must differ from IMGHOST_PORT")
    if settings.tls_redirect_port and not cert:
        raise SettingsError(
            "IMGHOST_TLS_REDIRECT_PORT redirects to HTTPS: set IMGHOST_TLS_CERT_FILE and "
            "IMGHOST_TLS_KEY_FILE too"
        )
    hsts = settings.tls_hsts.strip()
    if hsts and not hsts.lower().startswith("max-age="):
        raise SettingsError(
            "IMGHOST_TLS_HSTS must start with max-age=SECONDS (e.g. max-age=31536000), or be empty"
        )
    if settings.tls_ca_file:
        try:
            client_context(settings.tls_ca_file)
        except TlsError as exc:
            raise SettingsError(f"IMGHOST_TLS_CA_FILE: {exc}") from None


def hsts_header(settings: Settings) -> str:
    """The Strict-Transport-Security value the app sends, or "" (TLS off, or none set)."""
    return settings.tls_hsts.strip() if settings.tls_cert_file else ""


def context_factory(
    config: uvicorn.Config, default: Callable[[], ssl.SSLContext]
) -> ssl.SSLContext:
    """uvicorn's ``ssl_context_factory``: our context instead of uvicorn's default one."""
    assert config.ssl_certfile is not None and config.ssl_keyfile is not None
    return server_context(str(config.ssl_certfile), str(config.ssl_keyfile))


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn.Config arguments that serve HTTPS, or none when TLS is off."""
    if not settings.tls_cert_file:
        return {}
    return {
        "ssl_certfile": settings.tls_cert_file,
        "ssl_keyfile": settings.tls_key_file,
        "ssl_context_factory": context_factory,
    }


def reload_certificate(config: uvicorn.Config) -> bool:
    """Load the config's certificate files again into its live context; whether it took."""
    if config.ssl is None or config.ssl_certfile is None or config.ssl_keyfile is None:
        return False
    cert, key = str(config.ssl_certfile), str(config.ssl_keyfile)
    try:
        reload_pair(config.ssl, cert, key)
    except TlsError as exc:
        log.error("TLS certificate not reloaded, the previous one is still served: %s", exc)
        return False
    log.warning("TLS certificate reloaded from %s", cert)
    return True


class ReloadingServer(uvicorn.Server):
    """uvicorn's Server that reloads its certificate on SIGHUP (one process).

    Without TLS, SIGHUP keeps its default (the process ends), as before.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        with super().capture_signals():
            if not self.config.is_ssl or threading.current_thread() is not threading.main_thread():
                yield
                return
            # The handler runs on the main thread, which runs the event loop,
            # between two steps of it: never inside a handshake (a C call).
            previous = signal.signal(
                signal.SIGHUP, lambda _sig, _frame: reload_certificate(self.config)
            )
            try:
                yield
            finally:
                signal.signal(signal.SIGHUP, previous)


class RedirectListener:
    """The plain-HTTP port: a uvicorn server (``config``, whose app is a
    :class:`~imghost.tls.redirect.RedirectToHttps`) in a thread of the main process.

    A thread of the process that supervises (or is) the API server, whatever
    the number of workers: redirects cost next to nothing.
    """

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket] | None = None) -> None:
        """``sockets``: already bound (and listening) sockets to serve on, else
        the config's host and port are bound."""
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": sockets}, name="tls-redirect", daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
