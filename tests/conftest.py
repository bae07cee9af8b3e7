"""Fixtures: real servers on loopback, an app per test on each backend combination.

API tests run twice: on SQLite + local files (the embedded default) and on
PostgreSQL + S3 (a real PostgreSQL cluster and moto's S3 API server, started
once per session on free ports). Every test gets its own database and its own
blob namespace. Under CI=true a server that cannot start fails the run.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import os
import shutil
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from httpx._transports import default as httpx_transports
from sqlalchemy.engine import URL, Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from imghost import db
from imghost.app import create_app
from imghost.migrate import upgrade
from imghost.server import build_config
from imghost.settings import Settings
from imghost.testing.clamd import ClamdServer, start_clamd
from imghost.testing.databases import DatabasePool
from imghost.testing.postgres import PostgresServer, psql, start_postgres, start_replica
from imghost.testing.servers import RedisServer, S3Server, Unavailable, start_redis, start_s3
from tests.helpers.big_images import BigImages, shared_root

CI = os.environ.get("CI", "").lower() == "true"


def pytest_configure(config: pytest.Config) -> None:
    """Children see Ctrl-C as they would from a terminal.

    A shell without job control starts background commands (``make test &``, some CI
    runners) with SIGINT ignored, and a process started with SIGINT ignored keeps it
    so, like every child it starts: the CLI tests that press Ctrl-C on
    ``imghost upload`` would find it ignoring them. Python's own handler again here,
    so the ``imghost`` processes the tests start get the default.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    share_default_tls_context()
    temp_files_in_memory()
    share_compiled_statements()


BACKENDS = ["sqlite-local", "postgres-s3"]
# The tests of the parts that read and write blobs (storage, uploads, tus,
# delivery, processing) run a second time with every blob encrypted at rest:
# their conftest.py files take these as the backend's parameters. What
# encryption does differently on S3 (parts of whole segments, uploads adopted
# in place, ranged reads, header rewrites, presigned plaintext) is in storage,
# original delivery, tus's resumes and presigned uploads: those run it on both. The
# rest reaches the store through the same calls on either, so its second
# pass, which would add a minute and a half to the suite, runs on SQLite +
# local files.
ENCRYPTED = "+encrypted"
BACKENDS_AND_ENCRYPTED = [*BACKENDS, *(b + ENCRYPTED for b in BACKENDS)]
BACKENDS_AND_LOCAL_ENCRYPTED = [*BACKENDS, "sqlite-local" + ENCRYPTED]


def backend_fixture(params: list[str]) -> Any:
    """A ``backend`` fixture over ``params``, for a folder's conftest or a module."""

    @pytest.fixture(params=params)
    def backend(request: pytest.FixtureRequest) -> str:
        return str(request.param)

    return backend


# Two key-encryption keys, as after a rotation: "k2" wraps, both unwrap.
TEST_ENCRYPTION_KEYS = (
    "k2:" + base64.b64encode(b"imghost-test-key-encryption-k2!!").decode() + ","
    "k1:" + base64.b64encode(b"imghost-test-key-encryption-k1!!").decode()
)
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
TEST_RATE_LIMITS = "uploads=100000/minute; upload_bytes=10TB/minute; views=100000/minute"


# A RAM disk with this much room takes the run's temp files.
MEMORY_TMP = Path("/dev/shm")
MEMORY_TMP_ROOM = 8 * 2**30


def temp_files_in_memory() -> None:
    """Temp dirs (the tests' databases and blobs, the PostgreSQL clusters, the
    servers' spools) on tmpfs when there is one with room.

    Every test makes and drops a database: on ext4 a third of the run's CPU went
    to the kernel allocating and freeing the inodes of PostgreSQL's relation
    files (a CREATE DATABASE took 179 ms, on tmpfs 32 ms). Nothing a test
    checks depends on the disk. Set in the xdist controller, before its workers
    and every server they start inherit TMPDIR; an explicit TMPDIR is kept.
    """
    if "TMPDIR" in os.environ or not os.access(MEMORY_TMP, os.W_OK):
        return
    room = os.statvfs(MEMORY_TMP)
    if room.f_bavail * room.f_frsize >= MEMORY_TMP_ROOM:
        os.environ["TMPDIR"] = str(MEMORY_TMP)
        tempfile.tempdir = None  # gettempdir() looks again


def share_compiled_statements() -> None:
    """Every engine of a test process shares its backend's dialect, and with it
    the statements compiled so far.

    SQLAlchemy caches a statement's SQL per dialect object, and a dialect is
    made per engine: with an engine per test, each test compiled every statement
    it ran again (an eighth of the run's CPU). One process's engines differ only
    in their database, so the first engine's dialect, once connected (which sets
    it up for the server), serves every later engine of the same backend. Each
    engine's own set-up of its connections is kept.
    """
    shared: dict[str, Engine] = {}

    def create_sharing(url: str | URL, **kwargs: Any) -> AsyncEngine:
        engine = create_async_engine(url, **kwargs)
        sync = engine.sync_engine
        first = shared.setdefault(sync.dialect.name, sync)
        if first is not sync and first.dialect.server_version_info is not None:
            sync.dialect = sync.pool._dialect = first.dialect
            sync._compiled_cache = first._compiled_cache
        return engine

    # (imghost.db.create_engine calls its module's name for SQLAlchemy's function.)
    db.create_async_engine = create_sharing  # type: ignore[attr-defined]


def share_default_tls_context() -> None:
    """Every default httpx client of the run shares one TLS context.

    httpx builds a context per client, loading the CA bundle (~50 ms of a
    core), and a run builds thousands of clients that only speak plain HTTP to
    loopback. Clients given their own ``verify`` or ``cert`` are unchanged.
    """
    original = httpx.create_ssl_context
    shared = original()

    def create_ssl_context(
        verify: ssl.SSLContext | str | bool = True, cert: Any = None, trust_env: bool = True
    ) -> ssl.SSLContext:
        if verify is True and cert is None:
            return shared
        return original(verify=verify, cert=cert, trust_env=trust_env)

    # The name the transports call (httpx.create_ssl_context is the same function).
    httpx_transports.create_ssl_context = create_ssl_context  # type: ignore[attr-defined]


# Parameter values of tests that need the PostgreSQL cluster or moto's S3 server.
SERVER_PARAMS = frozenset({"postgres-s3", "postgres", "s3"})
# Every test here runs real server processes, CLIs or a browser: seconds to a minute.
E2E = Path(__file__).parent / "e2e"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests that need PostgreSQL or S3 `postgres_s3`, and the encrypted
    pass `encrypted` (`make test-fast` leaves both out; the encrypted pass of
    tests marked `plaintext_only` is dropped),
    and put the long ones first: xdist hands tests out in this order, and a long
    one handed out last would finish last, alone."""
    dropped = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        values = [str(v) for v in getattr(callspec, "params", {}).values()]
        if any(v.endswith(ENCRYPTED) for v in values):
            item.add_marker(pytest.mark.encrypted)
            if item.get_closest_marker("plaintext_only"):
                dropped.append(item)
        if SERVER_PARAMS.intersection(v.removesuffix(ENCRYPTED) for v in values):
            item.add_marker(pytest.mark.postgres_s3)
        if item.path.is_relative_to(E2E):
            item.add_marker(pytest.mark.slow)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        gone = set(dropped)
        items[:] = [item for item in items if item not in gone]
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable


def unavailable(reason: str) -> None:
    if CI:
        pytest.fail(f"required test service unavailable under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    try:
        server = start_postgres()
    except Unavailable as exc:
        unavailable(str(exc))
    try:
        psql(server, "CREATE DATABASE imghost_template")
        upgrade(server.url("imghost_template"))
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_replica(pg_server: PostgresServer) -> Iterator[PostgresServer]:
    """A hot standby of the run's PostgreSQL server, streaming its WAL (started
    by the first test that asks, once per worker; ~0.5 s). Tests that pause its
    replay resume it before they end.

    The primary names every standby synchronous. Its commits stay asynchronous
    (``synchronous_commit=off`` on the test cluster); a transaction that sets
    ``synchronous_commit`` itself waits for a standby: the tests' way to know
    that the replica has received (``on``) or replayed (``remote_apply``) a
    write, instead of polling it.
    """
    psql(pg_server, "ALTER SYSTEM SET synchronous_standby_names = '*';\nSELECT pg_reload_conf()")
    try:
        server = start_replica(pg_server)
    except Unavailable as exc:
        unavailable(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_databases(pg_server: PostgresServer) -> Iterator[DatabasePool]:
    """Fresh copies of the migrated template, made ahead of the tests."""
    pool = DatabasePool(pg_server, "imghost_template")
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    try:
        server = start_s3()
    except Unavailable as exc:
        unavailable(str(exc))
    try:
        server.create_bucket("imghost-test")
        yield server
    finally:
        server.stop()


def running_redis() -> Iterator[RedisServer]:
    """A redis-server on a free loopback port until the generator is closed."""
    try:
        server = start_redis()
    except Unavailable as exc:
        unavailable(str(exc))
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def redis_session() -> Iterator[RedisServer]:
    """One redis-server for the run (rate limits, login throttle); tests flush it."""
    yield from running_redis()


@pytest.fixture(scope="session")
def clamd_session() -> Iterator[ClamdServer]:
    """One clamd for the run (per xdist worker: it starts in well under a
    second with the tests' tiny signature database)."""
    try:
        server = start_clamd()
    except Unavailable as exc:
        unavailable(str(exc))
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def clamd(clamd_session: ClamdServer) -> ClamdServer:
    """The run's clamd, running (a test of an outage before may have stopped it)."""
    clamd_session.start()
    return clamd_session


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def big_images(tmp_path_factory: pytest.TempPathFactory) -> BigImages:
    """Big generated PNGs (100 MP), made once per run for every worker."""
    return BigImages(shared_root(tmp_path_factory) / "big-images")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings_factory(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Build Settings for this test's isolated database and blob namespace."""
    databases: DatabasePool | None = None
    encrypted = backend.endswith(ENCRYPTED)
    backend = backend.removesuffix(ENCRYPTED)
    if backend == "sqlite-local":
        template: Path = request.getfixturevalue("sqlite_template")
        db = tmp_path / "imghost.db"
        shutil.copyfile(template, db)
        base = {
            "database_url": f"sqlite+aiosqlite:///{db}",
            "storage_url": f"file://{tmp_path / 'blobs'}",
        }
    else:
        databases = request.getfixturevalue("pg_databases")
        s3: S3Server = request.getfixturevalue("s3_server")
        name = databases.take()
        base = {
            "database_url": databases.server.url(name),
            "storage_url": s3.storage_url("imghost-test", name),
        }

    real_cost = request.node.get_closest_marker("standard_password_hash") is not None

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            **base,
            "secret_key": TEST_SECRET,
            "run_worker": True,
            "gc_interval": 3600,
            "auto_migrate": False,
            "tmp_dir": str(tmp_path / "spool"),
            # Rate limits far above what any test sends from one user or address
            # (the defaults allow 60 uploads a minute); rate-limit tests set theirs.
            "rate_limits_free": TEST_RATE_LIMITS,
            "rate_limits_premium": TEST_RATE_LIMITS,
            "rate_limits_anonymous": TEST_RATE_LIMITS,
            # Every test's users sign up from 127.0.0.1; the sign-up tests set theirs.
            "signup_rate_limit": "100000/hour",
            # Every test's reports come from 127.0.0.1 too; the report-limit tests set theirs.
            "report_rate_limit": "100000/hour",
            # A full collection per app start (~0.1 s) adds minutes to the
            # suite; tests/integration/test_heap.py starts apps with it on.
            "freeze_heap": False,
            # argon2's smallest parameters: two standard hashes per user (sign-up,
            # log-in) were most of a typical test's CPU. Tests whose meaning rests
            # on a check's real cost (timing, floods, races) are marked
            # standard_password_hash. The cost is the process's (the password
            # module's), set by the app built last: a module-scoped app (e2e)
            # shares it with whatever test of the worker built an app after it.
            "password_hash_cost": "standard" if real_cost else "minimal",
        }
        if encrypted:
            values["encryption_keys"] = TEST_ENCRYPTION_KEYS
        values.update(overrides)
        return Settings(**values)

    yield make
    if databases is not None:
        databases.give_back(name)


class StoppableServer(uvicorn.Server):
    """uvicorn's server that stop() ends at once, not at its next 0.1 s tick
    (a live server per test: the ticks added up to minutes of waiting)."""

    _loop: asyncio.AbstractEventLoop | None = None
    _stopping: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._stopping = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        counter = 0
        while not await self.on_tick(counter):  # uvicorn's loop, but woken by stop()
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.1):
                    await self._stopping.wait()

    def stop(self) -> None:
        self.should_exit = True
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's shutdown (uvicorn/server.py), without its fixed 0.1 s sleep
        after asking the connections to close and its 0.1 s polls: a live server
        per test made that a minute and a half of every run. The same steps in
        the same order; the connections and tasks are awaited at a 5 ms tick,
        within the same graceful-shutdown timeout (``shutdown_timeout``)."""
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        try:
            async with asyncio.timeout(self.config.timeout_graceful_shutdown):
                # Idle keep-alive connections close on the next turns of the
                # loop; a response in flight is finished first, as in uvicorn.
                while (
                    self.server_state.connections or self.server_state.tasks
                ) and not self.force_exit:
                    await asyncio.sleep(0.005)
                for server in self.servers:
                    await server.wait_closed()
        except TimeoutError:
            for task in self.server_state.tasks:
                task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
        if not self.force_exit:
            await self.lifespan.shutdown()


class LiveServer:
    """The app under uvicorn in a background thread, on a free loopback port
    (HTTPS when the settings name a certificate, as `imghost serve` does)."""

    def __init__(self, settings: Settings) -> None:
        # Bound here and handed to uvicorn: a port only looked up as free could
        # be taken by another xdist worker's server before uvicorn binds it.
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.port = int(self.socket.getsockname()[1])
        self.scheme = "https" if settings.tls_cert_file else "http"
        self.settings = Settings(
            **{
                **{k: getattr(settings, k) for k in settings.__dataclass_fields__},
                "public_base_url": f"{self.scheme}://127.0.0.1:{self.port}",
            }
        )
        self.app = create_app(self.settings)
        # The same builder as `imghost serve`: tests run with production's HTTP limits.
        config = build_config(
            self.settings,
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
        )
        self.server = StoppableServer(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.socket.close()
                raise RuntimeError("the live server did not start (see the log above)")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
        self.thread.join(30)
        self.socket.close()
        if self.thread.is_alive():
            # A shutdown that hangs is the app's bug (`imghost serve` would hang
            # at exit too): fail, and say where each of its tasks waits.
            pytest.fail(f"the live server did not stop within 30 s:\n{self._stacks()}")

    def _stacks(self) -> str:
        loop = self.server._loop
        out = io.StringIO()
        frame = sys._current_frames().get(self.thread.ident or 0)
        if frame is not None:
            out.write("".join(traceback.format_stack(frame)))
        for task in asyncio.all_tasks(loop) if loop is not None else ():
            task.print_stack(limit=12, file=out)
        return out.getvalue()


@pytest.fixture
def settings(settings_factory: Any) -> Settings:
    return settings_factory()  # type: ignore[no-any-return]


@pytest.fixture
def live(settings: Settings) -> Iterator[LiveServer]:
    with LiveServer(settings) as server:
        yield server


@pytest.fixture
def client(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=60) as c:
        yield c
