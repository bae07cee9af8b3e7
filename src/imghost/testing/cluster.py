"""A whole deployment on loopback: PostgreSQL with a streaming replica, S3 (moto),
Redis, N `imghost serve` processes behind the nginx edge and M `imghost worker`
processes, all with one set of settings (`make cluster`, the chaos test).

Each piece can be killed and started again on the same port, as a failure and
its recovery would: :meth:`Cluster.kill_api`, :meth:`Cluster.kill_worker`,
:meth:`Cluster.kill_redis`, :meth:`Cluster.restart_postgres`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from imghost.migrate import upgrade
from imghost.settings import Settings
from imghost.testing.edge import EdgeServer, start_edge
from imghost.testing.postgres import (
    PostgresServer,
    psql,
    restart_postgres,
    start_postgres,
    start_replica,
)
from imghost.testing.servers import (
    RedisServer,
    S3Server,
    free_port,
    start_redis,
    start_s3,
    wait_for_port,
)

DATABASE = "imghost"
BUCKET_PREFIX = "blobs"


@dataclass
class Role:
    """One `imghost serve` or `imghost worker` process, in its own process group
    (its pixel pool and forkserver die with it), restartable with the same
    environment and, for an API process, the same port."""

    name: str
    command: str
    env: dict[str, str]
    log: Path
    port: int | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 90.0) -> None:
        env = dict(self.env)
        if self.port is not None:
            env["IMGHOST_PORT"] = str(self.port)
        # The process writes to its own copy of the descriptor; ours closes at once.
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [str(Path(sys.executable).parent / "imghost"), self.command],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if self.port is None:
            return
        try:
            wait_for_port(self.port, timeout, self.proc)
            # Listening comes before the app's startup has finished.
            deadline = time.monotonic() + timeout
            while not self._healthy():
                if time.monotonic() > deadline or not self.alive:
                    raise RuntimeError(f"{self.name} never became healthy")
                time.sleep(0.05)
        except BaseException:
            self.stop()
            raise RuntimeError(f"{self.name} failed to start:\n{self.tail()}") from None

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """SIGKILL the whole group: nothing is drained, no lease released."""
        self._signal_group(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(10)

    def stop(self, grace: float = 20.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(grace)
        # Children (the pixel pool) may outlive their leader: sweep the group.
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)

    def _signal_group(self, sig: int) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Cluster:
    workdir: Path
    env: dict[str, str]
    primary: PostgresServer
    replica: PostgresServer
    s3: S3Server
    redis: RedisServer
    apis: list[Role]
    workers: list[Role]
    edge: EdgeServer

    @property
    def edge_url(self) -> str:
        return self.edge.url

    @property
    def database_url(self) -> str:
        return self.primary.url(DATABASE)

    def kill_api(self, index: int) -> None:
        self.apis[index].kill()

    def start_api(self, index: int) -> None:
        self.apis[index].start()

    def kill_worker(self, index: int) -> None:
        self.workers[index].kill()

    def start_worker(self, index: int) -> None:
        self.workers[index].start()

    def kill_redis(self) -> None:
        if self.redis.proc is not None:
            self.redis.proc.kill()
            self.redis.proc.wait(10)

    def start_redis(self) -> None:
        """The same port, empty (no persistence): every counter starts again."""
        self.redis.start()

    def restart_postgres(self, immediate: bool = True) -> None:
        restart_postgres(self.primary, immediate=immediate)

    def command(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run an `imghost` command (gc, jobs) with the cluster's settings."""
        return subprocess.run(
            [str(Path(sys.executable).parent / "imghost"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


#: PostgreSQL settings of the cluster's primary (see ``running``).
DURABLE = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


@contextlib.contextmanager
def running(
    api: int = 2,
    workers: int = 2,
    *,
    workdir: Path | None = None,
    settings: dict[str, str] | None = None,
    s3: S3Server | None = None,
) -> Iterator[Cluster]:
    """Start a cluster; everything started is stopped on exit (Ctrl-C included).

    ``settings``: more IMGHOST_* variables for every process (they win).
    ``s3``: a running S3 server to use (a fresh bucket is made in it) instead of
    starting one.
    """
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(tempfile.mkdtemp(prefix="imghost-cluster-"))
            stack.callback(shutil.rmtree, workdir, True)
        workdir.mkdir(parents=True, exist_ok=True)
        # Durable, unlike the tests' throwaway servers: the chaos run's restart is an
        # immediate stop (a crash), and with fsync or synchronous_commit off the
        # commits acknowledged just before it were lost (uploads that answered 201,
        # then 404), which a real deployment never does.
        primary = start_postgres(DURABLE)
        stack.callback(primary.stop)
        psql(primary, f"CREATE DATABASE {DATABASE}")
        upgrade(primary.url(DATABASE))
        # After the migrations: the base backup then carries the schema.
        replica = start_replica(primary)
        stack.callback(replica.stop)
        if s3 is None:
            s3 = start_s3()
            stack.callback(s3.stop)
        bucket = f"imghost-{secrets.token_hex(6)}"
        s3.create_bucket(bucket)
        redis = start_redis()
        stack.callback(redis.close)
        (workdir / "spool").mkdir(exist_ok=True)
        env = {
            **os.environ,
            "IMGHOST_HOST": "127.0.0.1",
            "IMGHOST_DATABASE_URL": primary.url(DATABASE),
            "IMGHOST_DATABASE_REPLICA_URLS": replica.url(DATABASE),
            "IMGHOST_STORAGE_URL": s3.storage_url(bucket, BUCKET_PREFIX),
            "IMGHOST_REDIS_URL": redis.url,
            "IMGHOST_SECRET_KEY": secrets.token_urlsafe(48),
            "IMGHOST_TMP_DIR": str(workdir / "spool"),
            "IMGHOST_WORKERS": "1",
            "IMGHOST_RUN_WORKER": "false",
            # Migrated once above: N processes starting together need not race for it.
            "IMGHOST_AUTO_MIGRATE": "false",
            # The edge is the only proxy: its X-Forwarded-For names each client.
            "IMGHOST_TRUSTED_PROXIES": "127.0.0.1",
            "IMGHOST_LOG_LEVEL": "WARNING",
            **(settings or {}),
        }
        ports = [free_port() for _ in range(api)]
        # The edge's settings are the service's (limits, cache lifetimes).
        edge = start_edge(Settings.from_env(env), ports)
        stack.callback(edge.stop)
        env["IMGHOST_PUBLIC_BASE_URL"] = edge.url
        apis = [
            Role(f"api{i}", "serve", env, workdir / f"api{i}.log", port)
            for i, port in enumerate(ports)
        ]
        pool = [
            Role(f"worker{j}", "worker", env, workdir / f"worker{j}.log") for j in range(workers)
        ]
        for role in (*apis, *pool):
            stack.callback(role.stop)
        _start_all(apis)
        for role in pool:
            role.start()
        yield Cluster(
            workdir=workdir,
            env=env,
            primary=primary,
            replica=replica,
            s3=s3,
            redis=redis,
            apis=apis,
            workers=pool,
            edge=edge,
        )


def _start_all(apis: list[Role]) -> None:
    """Start the API processes side by side: each spends seconds importing."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(len(apis) or 1) as pool:
        for future in [pool.submit(role.start) for role in apis]:
            future.result()
