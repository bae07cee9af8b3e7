"""The HTTP server: uvicorn with httptools, plus the limits httptools lacks.

uvicorn's httptools protocol (the fastest parser measured, see bench/http_server.py
and docs/ARCHITECTURE.md) buffers a request head of any size and waits for it for
ever; ``imghost.server_protocol`` bounds it. This module builds the config that
carries those limits, fits the open-file limit to the connection cap, and runs
the server (one process, or uvicorn's supervisor of several).

``imghost serve`` and the tests' live server both build their config here, so the
tests run with the limits production has.
"""

from __future__ import annotations

import logging
import math
import resource
import sys
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess

from imghost import server_tls
from imghost.proxies import uvicorn_proxy_kwargs
from imghost.server_protocol import HttpLimits, LimitedHttpToolsProtocol
from imghost.settings import HttpSettings, Settings, SettingsError
from imghost.tls.redirect import RedirectToHttps

log = logging.getLogger("imghost.server")

# File handles each process keeps beside its connections: database pool, blob
# files, pixel-pool pipes, logs, the listening socket.
FD_RESERVE = 256


def check_settings(settings: HttpSettings) -> None:
    """Raise SettingsError naming the first HTTP server setting that cannot be used."""
    for name in ("max_url_bytes", "max_header_bytes", "max_headers", "max_connections"):
        if getattr(settings, name) < 1:
            raise SettingsError(f"IMGHOST_{name.upper()} must be at least 1")
    for name in ("header_timeout", "keepalive_timeout"):
        if not 0 < getattr(settings, name) <= 3600:  # also refuses NaN
            raise SettingsError(f"IMGHOST_{name.upper()} must be from 0 to 3600 seconds")
    if settings.shutdown_timeout <= 0:
        raise SettingsError("IMGHOST_SHUTDOWN_TIMEOUT must be a positive number of seconds")


def fit_file_limit(max_connections: int) -> int:
    """Raise the soft open-file limit to what the cap needs; return the cap that fits.

    Past the limit, accept() fails and the kernel resets new connections with
    no log line; keeping the cap under the limit means a full process answers
    503 instead.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = max_connections + FD_RESERVE
    if soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft != resource.RLIM_INFINITY and soft < need:
        fitted = max(1, soft - FD_RESERVE)
        log.warning(
            "IMGHOST_MAX_CONNECTIONS=%d does not fit the open-file limit (%d); using %d "
            "(raise `ulimit -n` or LimitNOFILE= to allow more)",
            max_connections,
            soft,
            fitted,
        )
        return fitted
    return max_connections


class ServerConfig(uvicorn.Config):
    """uvicorn's Config carrying our limits to the protocol.

    A module-level class, as is the protocol, so that with ``workers > 1`` the
    config pickles into uvicorn's spawned worker processes.
    """

    def __init__(self, app: Any, *, limits: HttpLimits, **options: Any) -> None:
        super().__init__(app, **options)
        self.limits = limits


def build_config(settings: Settings, app: Any, **options: Any) -> ServerConfig:
    """The server config for ``settings``: our protocol, limits and timeouts.

    ``options`` are uvicorn.Config arguments (host, port, workers, factory, ...).
    With a certificate in the settings it serves HTTPS (:mod:`imghost.server_tls`).
    """
    limits = HttpLimits.from_settings(settings)
    fitted = fit_file_limit(limits.max_connections)
    if fitted != limits.max_connections:
        limits = HttpLimits(**{**limits.__dict__, "max_connections": fitted})
    # Which peers may set the client address (X-Forwarded-For) and how long a
    # SIGTERM waits for requests in flight come from settings too, so the
    # tests' live server behaves as `imghost serve` does.
    defaults: dict[str, Any] = {
        **uvicorn_proxy_kwargs(settings.trusted_proxies),
        "timeout_graceful_shutdown": settings.shutdown_timeout,
        **server_tls.uvicorn_options(settings),
    }
    return ServerConfig(
        app,
        limits=limits,
        http=LimitedHttpToolsProtocol,
        timeout_keep_alive=max(1, math.ceil(limits.keepalive_timeout)),
        **{**defaults, **options},
    )


def redirect_config(settings: Settings, **options: Any) -> ServerConfig:
    """The plain-HTTP listener's config: the same limits, no TLS, no lifespan."""
    no_tls = {"ssl_certfile": None, "ssl_keyfile": None, "ssl_context_factory": None}
    app = RedirectToHttps(settings.public_base_url)
    return build_config(
        settings, app, lifespan="off", port=settings.tls_redirect_port, **{**options, **no_tls}
    )


def run(settings: Settings, app: Any, **options: Any) -> None:
    """Serve until stopped: what ``uvicorn.run`` does, with :func:`build_config`
    (and the redirecting plain-HTTP listener when TLS has one)."""
    config = build_config(settings, app, **options)
    redirect = None
    if settings.tls_cert_file and settings.tls_redirect_port:
        listener_options = {
            k: v for k, v in options.items() if k in ("host", "log_level", "access_log")
        }
        redirect = server_tls.RedirectListener(redirect_config(settings, **listener_options))
        redirect.start()
    try:
        if config.workers > 1:
            # Each spawned process unpickles the config and builds its own protocol
            # instances (and connection gate, and TLS context) from it; SIGHUP
            # replaces them one by one (uvicorn's supervisor).
            Multiprocess(config, sockets=[config.bind_socket()]).run()
            return
        server = server_tls.ReloadingServer(config)
        server.run()
        if not server.started:
            sys.exit(STARTUP_FAILURE)
    finally:
        if redirect is not None:
            redirect.stop()
