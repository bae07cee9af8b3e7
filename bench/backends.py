"""The database + blob store combinations the service is measured on."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from imghost.testing.postgres import PostgresServer, psql, start_postgres
from imghost.testing.servers import S3Server, start_s3

BACKENDS = ("sqlite-local", "postgres-s3")
BUCKET = "imghost-bench"
DATABASE = "imghost_bench"
PREFIX = "blobs"  # key prefix inside the bucket


@dataclass
class Backend:
    name: str
    description: str
    database_url: str
    storage_url: str
    s3: S3Server | None = None
    postgres: PostgresServer | None = None


@contextlib.contextmanager
def opened(name: str, workdir: Path) -> Iterator[Backend]:
    """Start what the combination needs; everything started is stopped on exit."""
    if name == "sqlite-local":
        yield Backend(
            name=name,
            description="SQLite (aiosqlite, WAL) + local files",
            database_url=f"sqlite+aiosqlite:///{workdir / 'imghost.db'}",
            storage_url=f"file://{workdir / 'blobs'}",
        )
        return
    if name != "postgres-s3":
        raise ValueError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")
    with contextlib.ExitStack() as stack:
        postgres = start_postgres()
        stack.callback(postgres.stop)
        psql(postgres, f"CREATE DATABASE {DATABASE}")
        # moto's werkzeug server would log every request wrk makes to our terminal.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        s3 = start_s3()
        stack.callback(s3.stop)
        s3.create_bucket(BUCKET)
        yield Backend(
            name=name,
            description="PostgreSQL (asyncpg) + S3 API (moto server, in the bench process)",
            database_url=postgres.url(DATABASE),
            storage_url=s3.storage_url(BUCKET, PREFIX),
            s3=s3,
            postgres=postgres,
        )
