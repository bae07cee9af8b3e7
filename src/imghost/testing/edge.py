"""The nginx edge as `imghost edge-config` writes it, run in the foreground on loopback
(tests, benchmarks, a cluster on one machine)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from imghost.edge.nginx import EdgeOptions, render, standalone
from imghost.settings import Settings
from imghost.testing.servers import free_port, nginx_binary, run_nginx, terminate


@dataclass
class EdgeServer:
    port: int
    prefix: Path
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        terminate(self.proc, 10)
        shutil.rmtree(self.prefix, ignore_errors=True)


def start_edge(
    settings: Settings, upstreams: list[int], workers: int = 1, replace: str | None = None
) -> EdgeServer:
    """nginx in front of the API processes listening on ``upstreams`` (loopback ports).
    ``replace``: directives put in place of the views' ``proxy_cache`` line (a
    benchmark's variant). Raises ``Unavailable`` when nginx is not installed."""
    binary = nginx_binary()
    prefix = Path(tempfile.mkdtemp(prefix="imghost-edge-"))
    port = free_port()
    options = EdgeOptions(
        listen=f"127.0.0.1:{port}",
        upstreams=tuple(f"127.0.0.1:{p}" for p in upstreams),
        cache_dir=str(prefix / "cache"),
        cache_size="256m",
    )
    # As root, nginx's workers would run as nobody, who may not read the blob files.
    user = "root" if os.geteuid() == 0 else None
    http = render(settings, options)
    if replace is not None:
        http = http.replace("proxy_cache imghost_edge;", replace, 1)
    conf = standalone(http, prefix, workers=workers, user=user)
    return EdgeServer(port, prefix, run_nginx(binary, conf, prefix, port))
