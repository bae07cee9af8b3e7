"""Start PostgreSQL on free loopback ports: a fresh cluster, a hot standby of one,
and a restart of one in place. Like every starter (:mod:`imghost.testing.servers`),
each returns a handle with the connection details and a ``stop()``, and raises
:class:`~imghost.testing.servers.Unavailable` when the binaries are missing.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imghost.testing.servers import Unavailable, free_port, terminate, wait_for_port


def postgres_bin_dir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise Unavailable("PostgreSQL server binaries (initdb) not found; apt-get install postgresql")


@dataclass
class PostgresServer:
    port: int
    datadir: Path
    proc: subprocess.Popen[bytes]
    user: str = "imghost"
    password: str = "imghost"  # noqa: S105 - throwaway loopback test server

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        # Immediate shutdown: the cluster is thrown away, so neither the sessions
        # a smart shutdown (SIGTERM) waits for nor a final checkpoint matter
        # (SIGTERM took 2 s at the end of every run, and up to its grace under load).
        terminate(self.proc, 15, signal.SIGQUIT)
        shutil.rmtree(self.datadir.parent, ignore_errors=True)


def _postgres_user() -> dict[str, Any]:
    """Popen arguments that run PostgreSQL's programs as `postgres` when we are root.

    PostgreSQL refuses to run as root. The programs run as `postgres` straight
    from Popen (not through runuser, which passes on SIGTERM but not the fast
    or immediate shutdown signals, so a cluster could only be stopped the slow way).
    """
    if os.geteuid() != 0:
        return {}
    try:
        pw = pwd.getpwnam("postgres")
    except KeyError as exc:
        raise Unavailable("running as root but there is no `postgres` user") from exc
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


def _own(path: Path, run_as: dict[str, Any]) -> None:
    if run_as:
        os.chown(path, run_as["user"], run_as["group"])


def _run_setup(argv: list[str], what: str, run_as: dict[str, Any], **kwargs: Any) -> None:
    try:
        subprocess.run(
            argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **run_as, **kwargs
        )
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"{what} failed: {exc.stderr.decode(errors='replace')}") from exc


def _launch_postgres(
    root: Path, datadir: Path, run_as: dict[str, Any], conf: dict[str, str]
) -> PostgresServer:
    """Append ``conf`` (later lines win) with a free port, start the server, wait for it."""
    port = free_port()
    conf = {
        "listen_addresses": "'127.0.0.1'",
        "port": str(port),
        "unix_socket_directories": f"'{root}'",
        **conf,
    }
    with open(datadir / "postgresql.conf", "a") as fh:
        for key, value in conf.items():
            fh.write(f"{key} = {value}\n")
    # The server writes to its own copy of the descriptor; ours closes at once.
    with open(root / "postgres.log", "wb") as log:
        proc = subprocess.Popen(
            [str(postgres_bin_dir() / "postgres"), "-D", str(datadir)],
            **run_as,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    server = PostgresServer(port=port, datadir=datadir, proc=proc)
    try:
        wait_for_port(port, 30, proc)
        _wait_accepting(server)
    except BaseException:  # Ctrl-C included: never leave a cluster running
        server.stop()
        raise
    return server


def start_postgres(extra_conf: dict[str, str] | None = None) -> PostgresServer:
    """initdb a fresh cluster in a temp dir and start it on a free port.

    As root, the cluster runs as the `postgres` system user, which owns the temp dir.
    """
    bindir = postgres_bin_dir()
    run_as = _postgres_user()
    root = Path(tempfile.mkdtemp(prefix="imghost-pg-"))
    datadir = root / "data"
    try:
        _own(root, run_as)
        pwfile = root / "pw"
        pwfile.write_text("imghost\n")
        _own(pwfile, run_as)
        _run_setup(
            [
                str(bindir / "initdb"),
                "-D",
                str(datadir),
                "-U",
                "imghost",
                f"--pwfile={pwfile}",
                "-A",
                "scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            "initdb",
            run_as,
        )
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    conf = {
        "fsync": "off",  # throwaway test cluster: durability is not under test
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "200",
        "shared_buffers": "256MB",
    }
    return _launch_postgres(root, datadir, run_as, {**conf, **(extra_conf or {})})


def start_replica(primary: PostgresServer) -> PostgresServer:
    """A hot standby of ``primary`` on its own free port, streaming its WAL.

    ``pg_basebackup -R`` copies the primary's data directory (its settings and
    users included) and writes the standby's connection to it; the standby then
    follows every commit of the primary within milliseconds, read-only. It
    lags, as a real one does: a write on the primary is not at once visible here.
    """
    bindir = postgres_bin_dir()
    run_as = _postgres_user()
    root = Path(tempfile.mkdtemp(prefix="imghost-pg-replica-"))
    datadir = root / "data"
    try:
        _own(root, run_as)
        _run_setup(
            [
                str(bindir / "pg_basebackup"),
                "-D",
                str(datadir),
                "-h",
                "127.0.0.1",
                "-p",
                str(primary.port),
                "-U",
                primary.user,
                "-X",
                "stream",
                "-R",
                "--checkpoint=fast",
                "--no-sync",
            ],
            "pg_basebackup",
            run_as,
            env={**os.environ, "PGPASSWORD": primary.password},
        )
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return _launch_postgres(root, datadir, run_as, {"hot_standby": "on"})


def restart_postgres(server: PostgresServer, immediate: bool = False) -> None:
    """Stop ``server`` and start it again on the same port and data directory, as an
    operator's restart does: a fast shutdown (SIGINT: sessions are ended, a checkpoint
    is written) or, with ``immediate``, a crash-like one (SIGQUIT: recovery from the WAL
    at start). Every client connection is cut; a replica reconnects by itself."""
    terminate(server.proc, 30, signal.SIGQUIT if immediate else signal.SIGINT)
    # The port and the rest were appended to postgresql.conf at the first start.
    with open(server.datadir.parent / "postgres.log", "ab") as log:
        server.proc = subprocess.Popen(
            [str(postgres_bin_dir() / "postgres"), "-D", str(server.datadir)],
            **_postgres_user(),
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    wait_for_port(server.port, 30, server.proc)
    _wait_accepting(server)


def _wait_accepting(server: PostgresServer) -> None:
    import asyncio

    import asyncpg  # type: ignore[import-untyped]

    async def _try() -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = await asyncpg.connect(server.url())
                await conn.close()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)

    asyncio.run(_try())


def psql(server: PostgresServer, sql: str, database: str = "postgres") -> None:
    """Run SQL statements (each outside a transaction, e.g. CREATE DATABASE)."""
    import asyncio

    import asyncpg

    async def _run() -> None:
        conn = await asyncpg.connect(server.url(database))
        try:
            for statement in [s for s in sql.split(";\n") if s.strip()]:
                await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(_run())
