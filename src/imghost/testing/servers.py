"""Start an S3 API (moto), nginx and Redis on free loopback ports (PostgreSQL:
:mod:`imghost.testing.postgres`), and what every starter shares.

Each starter returns a handle with the connection details and a ``stop()``.
When a server's binaries are missing, :class:`Unavailable` is raised; test
fixtures turn that into a skip locally and a failure under ``CI=true``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class Unavailable(RuntimeError):
    """A server's binaries are not installed on this machine."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def terminate(proc: subprocess.Popen[bytes], grace: float, sig: int = signal.SIGTERM) -> None:
    """Stop a server: ``sig``, then SIGKILL if it has not exited within ``grace`` s."""
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def wait_for_port(
    port: int, timeout: float = 30.0, proc: subprocess.Popen[Any] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listened on port {port} within {timeout}s")


# --- S3 (moto) ------------------------------------------------------------


@dataclass
class S3Server:
    port: int
    proc: subprocess.Popen[bytes]
    access_key: str = "testing"
    secret_key: str = "testing"  # noqa: S105 - moto accepts any credentials
    region: str = "us-east-1"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def storage_url(self, bucket: str, prefix: str = "") -> str:
        path = f"/{prefix}" if prefix else ""
        return (
            f"s3://{bucket}{path}?endpoint={self.endpoint}&region={self.region}"
            f"&access_key_id={self.access_key}&secret_access_key={self.secret_key}"
        )

    def client(self) -> Any:
        """A boto3 S3 client for this server (tests and benchmarks inspect buckets)."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )

    def create_bucket(self, bucket: str) -> None:
        self.client().create_bucket(Bucket=bucket)

    def stop(self) -> None:
        terminate(self.proc, 10)


def start_s3() -> S3Server:
    """moto's S3 API in its own process: in the caller's, every request it
    serves would compete for the GIL with the app and the tests (seconds a test)."""
    if importlib.util.find_spec("moto") is None:  # pragma: no cover - dev extra missing
        raise Unavailable("moto[server] is not installed")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, 60, proc)
    except BaseException:  # Ctrl-C included: never leave a server running
        proc.kill()
        proc.wait(5)
        raise
    return S3Server(port=port, proc=proc)


# --- nginx ----------------------------------------------------------------


def nginx_binary() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
    )
    if not found:
        raise Unavailable("nginx not found; apt-get install nginx")
    return found


@dataclass
class NginxServer:
    port: int
    root: Path
    proc: subprocess.Popen[bytes]
    extra: dict[str, Any] = field(default_factory=dict)

    def stop(self) -> None:
        terminate(self.proc, 10)
        if self.proc.stderr is not None:
            self.proc.stderr.close()  # the pipe start_nginx opened
        shutil.rmtree(self.root, ignore_errors=True)


def start_nginx(server_block: str, workers: int = 1, http_extra: str = "") -> NginxServer:
    """Run nginx in the foreground with a config whose `server { }` body is given.

    ``{port}`` and ``{root}`` in ``server_block`` and ``http_extra`` (more
    directives for the ``http { }`` block, e.g. ``proxy_cache_path``) are filled in.
    """
    binary = nginx_binary()
    root = Path(tempfile.mkdtemp(prefix="imghost-nginx-"))
    port = free_port()
    body = server_block.replace("{port}", str(port)).replace("{root}", str(root))
    extra = http_extra.replace("{root}", str(root))
    user = "user root;" if os.geteuid() == 0 else ""
    conf = f"""
{user}
worker_processes {workers};
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    types {{ image/jpeg jpg; image/png png; }}
    {extra}
    server {{
        listen 127.0.0.1:{port};
        {body}
    }}
}}
"""
    proc = run_nginx(binary, conf, root, port, stderr=subprocess.PIPE)
    return NginxServer(port=port, root=root, proc=proc)


def run_nginx(
    binary: str, conf: str, root: Path, port: int, stderr: int = subprocess.DEVNULL
) -> subprocess.Popen[bytes]:
    """nginx in the foreground with ``conf`` (written to ``root``/nginx.conf), once it
    accepts on ``port``; on failure it is stopped and ``root`` removed."""
    (root / "nginx.conf").write_text(conf)
    proc = subprocess.Popen(
        [binary, "-c", str(root / "nginx.conf"), "-p", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )
    try:
        wait_for_port(port, 15, proc)
    except BaseException:
        terminate(proc, 5)
        if proc.stderr is not None:
            proc.stderr.close()
        shutil.rmtree(root, ignore_errors=True)
        raise
    return proc


# --- Redis ----------------------------------------------------------------


def redis_binary() -> str:
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
    )
    if not found:
        raise Unavailable("redis-server not found; apt-get install redis-server")
    return found


@dataclass
class RedisServer:
    """A throwaway redis-server: loopback only, no persistence (``--save ''``).

    ``stop()`` ends the process but keeps the port and the directory, so
    ``start()`` brings the same server back (tests of an outage and recovery);
    ``close()`` stops it for good and removes the directory.
    """

    port: int
    root: Path
    binary: str
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.root),
                "--daemonize",
                "no",
                "--logfile",
                str(self.root / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(self.port, 15, self.proc)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc, 10)

    def flush(self) -> None:
        """Forget every key (tests share one server and isolate by flushing)."""
        with socket.create_connection(("127.0.0.1", self.port), 5) as sock:
            sock.sendall(b"*1\r\n$8\r\nFLUSHALL\r\n")
            reply = sock.recv(64)
        if not reply.startswith(b"+OK"):
            raise RuntimeError(f"FLUSHALL failed: {reply!r}")

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def start_redis() -> RedisServer:
    """redis-server on a free loopback port with its files in a temp dir."""
    binary = redis_binary()
    server = RedisServer(
        port=free_port(), root=Path(tempfile.mkdtemp(prefix="imghost-redis-")), binary=binary
    )
    try:
        server.start()
    except BaseException:
        server.close()
        raise
    return server
