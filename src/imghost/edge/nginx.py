"""The nginx configuration of the edge, written from the service's settings.

What the edge does, and why each part is there:

- **Caches public answers** (``/images/…``) for as long as the origin allows a
  shared cache: IMGHOST_EDGE_MAX_AGE (1 s by default; given to nginx as
  ``X-Accel-Expires``, see ``delivery.access.cache_headers``), then it
  revalidates (``If-None-Match``: a 304 costs the origin no bytes). nginx
  stores a response per value of the headers its ``Vary`` names, and never
  stores ``private``/``no-store`` answers. Requests with credentials skip the
  cache both ways. The edge asks with ``Cache-Control: max-age=0``, so the
  origin answers it from the database, never from a process's cached facts:
  what the edge keeps is never older than its fetch, and an image that stops
  being public stops being served within IMGHOST_EDGE_MAX_AGE (stock nginx
  cannot purge; see docs/OPERATIONS.md).
- **Sends local blobs itself** (``sendfile``): the origin authorizes the
  request, then answers ``X-Accel-Redirect`` naming the blob instead of its
  bytes (``delivery.sendfile``), for the answers the cache does not keep
  (private images, signed URLs, share links). Only for plaintext local storage:
  an encrypted blob must pass through the origin to be decrypted.
- **Passes the client's address** in ``X-Forwarded-For``: list the edge's
  address in IMGHOST_TRUSTED_PROXIES so rate limits see each client.
- **Bounds request sizes** as the service does, so oversized bodies and heads
  are refused at the edge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from imghost.settings import Settings

# The internal location nginx sends blobs from; the origin names blobs under it.
SENDFILE_PREFIX = "/_imghost_blobs/"
SAFE_PATH = re.compile(r"[A-Za-z0-9_./-]+")


@dataclass(frozen=True)
class EdgeOptions:
    listen: str = "0.0.0.0:80"
    upstreams: tuple[str, ...] = ("127.0.0.1:8000",)
    cache_dir: str = "/var/cache/imghost-edge"
    cache_size: str = "10g"
    # ``sendfile``: serve local blobs through X-Accel-Redirect (None: decide from settings).
    sendfile: bool | None = None


class EdgeConfigError(ValueError):
    """The settings cannot be served as asked (the message says why)."""


def blob_root(settings: Settings) -> Path | None:
    """The local blob directory nginx may send from, or None (S3, or encrypted)."""
    url = settings.storage_url
    if not url.startswith("file://") or settings.encryption_keys or settings.encryption_keys_file:
        return None
    return Path(url[len("file://") :]).resolve()


def _kib(n: int) -> str:
    return f"{max(1, -(-n // 1024))}k"


def _proxy_headers(extra: tuple[str, ...] = ()) -> str:
    # Repeated in each location: a location that sets any proxy_set_header
    # inherits none from the server block.
    lines = (
        "proxy_set_header Host $http_host;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        'proxy_set_header Connection "";',
        *extra,
    )
    return "\n        ".join(lines)


def render(settings: Settings, options: EdgeOptions) -> str:
    """The ``http { }``-level configuration (include it from nginx.conf's http block)."""
    for value in (options.cache_dir, *options.upstreams, options.listen):
        if not SAFE_PATH.fullmatch(value.replace(":", "")):
            raise EdgeConfigError(f"{value!r}: only letters, digits and _ . / - : are allowed")
    root = blob_root(settings)
    if options.sendfile and root is None:
        raise EdgeConfigError(
            "--sendfile needs plaintext local storage (IMGHOST_STORAGE_URL=file://… without "
            "IMGHOST_ENCRYPTION_KEYS): encrypted or S3 blobs pass through the origin."
        )
    sendfile = root is not None if options.sendfile is None else options.sendfile
    if root is not None and not SAFE_PATH.fullmatch(str(root)):
        raise EdgeConfigError(f"{root}: the blob directory's path must be plain for nginx")
    # The largest body the service takes: a batch upload (a tus PATCH is at most
    # a file). Bodies stream to the origin unbuffered, which counts them too.
    max_body = max(settings.max_batch_size, settings.max_file_size) + 1024 * 1024
    head = max(settings.max_url_bytes, settings.max_header_bytes)
    servers = "\n    ".join(f"server {u} max_fails=0;" for u in options.upstreams)
    cached_extra: tuple[str, ...] = (
        'proxy_set_header Cache-Control "max-age=0";',
        "proxy_set_header X-Imghost-Edge nginx;",
    )
    internal = ""
    if sendfile:
        assert root is not None
        cached_extra += (f"proxy_set_header X-Imghost-Sendfile {SENDFILE_PREFIX};",)
        internal = f"""
    # Blobs the origin authorized a request for (X-Accel-Redirect); never reachable
    # from outside. The origin's headers are kept; nginx adds none of its own.
    location {SENDFILE_PREFIX} {{
        internal;
        alias {root}/;
        etag off;
        add_header ETag $upstream_http_etag always;
        add_header Vary $upstream_http_vary always;
        add_header X-Content-Type-Options $upstream_http_x_content_type_options always;
        add_header Content-Security-Policy $upstream_http_content_security_policy always;
    }}
"""
    return f"""# Written by `imghost edge-config` from the service's settings: regenerate it
# when they change. Include it in nginx.conf's http {{ }} block.
# The origin must trust this edge's address: IMGHOST_TRUSTED_PROXIES.

proxy_cache_path {options.cache_dir} levels=1:2 keys_zone=imghost_edge:64m
                 max_size={options.cache_size} inactive=1h use_temp_path=off;

upstream imghost_origin {{
    {servers}
    keepalive 64;
}}

server {{
    listen {options.listen} reuseport;
    server_tokens off;
    # As the service bounds them (IMGHOST_MAX_BATCH_SIZE, IMGHOST_MAX_FILE_SIZE,
    # IMGHOST_MAX_URL_BYTES, IMGHOST_MAX_HEADER_BYTES).
    client_max_body_size {max_body};
    client_header_buffer_size 4k;
    large_client_header_buffers 8 {_kib(head)};
    # Uploads stream to the origin as they arrive (it spools and bounds them);
    # tus PATCHes need their bytes to reach it unbuffered.
    proxy_request_buffering off;
    proxy_http_version 1.1;
    proxy_read_timeout 300s;
    proxy_send_timeout 300s;
    sendfile on;
    tcp_nopush on;

    location / {{
        proxy_pass http://imghost_origin;
        {_proxy_headers()}
    }}

    # Views: originals, presets and transforms.
    location /images/ {{
        proxy_pass http://imghost_origin;
        {_proxy_headers(cached_extra)}
        proxy_cache imghost_edge;
        proxy_cache_key $scheme$host$request_uri;
        # Credentials never read or fill the cache.
        proxy_cache_bypass $http_authorization;
        proxy_no_cache $http_authorization;
        # Expired entries are revalidated (If-None-Match: a 304 carries no bytes).
        # No proxy_cache_lock: the requests it holds back recheck every 500 ms, and
        # with entries expiring each second a busy image stalled every second (in
        # `make bench`, 16 % fewer hits a second than entries kept an hour; without
        # the lock, the same within noise). A few concurrent revalidations cost the
        # origin less.
        proxy_cache_revalidate on;
        # Cached answers' files stay open between hits (their bytes never change
        # under a key; whether an entry is still fresh is kept in memory, apart).
        open_file_cache max=10000 inactive=60s;
        open_file_cache_valid 1s;
        # A dead origin: keep serving what is cached (nothing can have changed).
        proxy_cache_use_stale error timeout http_502 http_503 http_504;
        add_header X-Cache-Status $upstream_cache_status always;
    }}
{internal}}}
"""


def standalone(
    http: str, prefix: Path, workers: int | str = "auto", user: str | None = None
) -> str:
    """A whole nginx.conf around ``render``'s output, running in the foreground
    with every path under ``prefix`` (tests, ``make cluster``, a laptop).
    ``user``: the account nginx's workers run as when started as root (they must
    be able to read the blob files)."""
    run_as = f"user {user};\n" if user else ""
    return f"""{run_as}worker_processes {workers};
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    default_type application/octet-stream;
    keepalive_requests 100000;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
{http}
}}
"""
