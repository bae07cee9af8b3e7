"""The search section: listing and full-text search at scale (issue 6).

Per database (PostgreSQL with ``--search-images`` images, SQLite with a tenth
of them), a fresh schema from the migrations is seeded in bulk with synthetic
but realistically skewed data:

- users: ``images / 10`` accounts; how many images each owns follows a Zipf
  law (s = 1.0), so a few power users own tens of thousands of images and
  most own a handful or none;
- images: 85 % public, 10 % unlisted, 5 % private; 97 % ready; 1 % deleted;
  uploaded over two years, in time order; view counts from a Pareto tail; formats, sizes,
  cameras and capture dates varied;
- tags: 3 to 7 per image (5 on average, duplicates dropped) drawn from
  ~5,000 tags with Zipf s = 1.1;
- titles and descriptions: English words drawn with the frequencies they
  have in Python's own documentation (see :func:`build_vocabulary`).

PostgreSQL is loaded with binary COPY (asyncpg ``copy_records_to_table``)
with the secondary indexes dropped and rebuilt afterwards, the full-text
index with the app's own ``search.index.upsert_sql`` run set-based (one
INSERT … SELECT per core over a slice of the ids), then VACUUM ANALYZE.
SQLite gets ``executemany`` in big transactions, the app's
``backfill_sql``, an FTS5 ``optimize`` and ANALYZE.

Then every query kind goes through the real service
(``imghost.search.services.search``, one AsyncSession per call, as a request
would) many times with varied parameters; wall time per call, and per SQL
statement, is recorded. The statements of one call per kind are EXPLAINed
(PostgreSQL: ``EXPLAIN (ANALYZE, BUFFERS)``; SQLite: ``EXPLAIN QUERY PLAN``)
into a text file beside the JSON.
"""

from __future__ import annotations

import ast
import asyncio
import base64
import bisect
import collections
import contextlib
import datetime as dt
import itertools
import os
import random
import re
import sqlite3
import sysconfig
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bench.checks import Checks
from bench.core import Phases
from bench.stats import percentile

POSTGRES = "postgres"
SQLITE = "sqlite"
#: `--backends` names (the other sections' combinations) → databases measured here
FROM_BACKENDS = {"sqlite-local": SQLITE, "postgres-s3": POSTGRES}
DATABASE = "imghost_search"
LISTING = "listing"
TEXT = "full text"
START = dt.datetime(2024, 12, 1, tzinfo=dt.UTC)
SPAN_S = 2 * 365 * 86400
CHUNK = 50_000
SMOKE_IMAGES = 20_000
SMOKE_QUERIES = 20
#: PostgreSQL settings beyond the test cluster's (which has fsync off): a
#: modest production-like memory budget for a 1M-image database.
POSTGRES_CONF = {
    "shared_buffers": "1GB",
    "effective_cache_size": "4GB",
    "maintenance_work_mem": "512MB",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "30min",
}

# PostgreSQL's `english` stop words (Snowball): such words are not indexed, so
# a query made only of them finds nothing. They stay out of the vocabulary.
_STOP_TEXT = """i me my myself we our ours ourselves you your yours yourself yourselves he him
    his himself she her hers herself it its itself they them their theirs themselves
    what which who whom this that these those am is are was were be been being have
    has had having do does did doing a an the and but if or because as until while of
    at by for with about against between into through during before after above below
    to from up down in out on off over under again further then once here there when
    where why how all any both each few more most other some such no nor not only own
    same so than too very s t can will just don should now"""
STOP_WORDS = frozenset(_STOP_TEXT.split())
_WORD = re.compile(r"(?<![\w.])[a-z]{3,14}(?![\w(])")
_PAIR = re.compile(r"(?<![\w.])([a-z]{3,14}) ([a-z]{3,14})(?![\w(])")

FORMATS = [  # (format, mime type, weight, bytes per pixel)
    ("jpeg", "image/jpeg", 70, 0.35),
    ("png", "image/png", 15, 1.6),
    ("webp", "image/webp", 8, 0.25),
    ("heic", "image/heic", 4, 0.2),
    ("gif", "image/gif", 3, 0.5),
]
SIZES = [
    (4032, 3024),
    (3024, 4032),
    (6000, 4000),
    (1920, 1080),
    (1080, 1350),
    (1280, 720),
    (800, 600),
    (2048, 1536),
    (1080, 1920),
    (5472, 3648),
    (640, 480),
    (3840, 2160),
]
CAMERAS = [
    ("Apple", "iPhone 15 Pro"),
    ("Apple", "iPhone 13"),
    ("Apple", "iPhone 11"),
    ("Samsung", "SM-S918B"),
    ("Google", "Pixel 8"),
    ("Canon", "Canon EOS R5"),
    ("Canon", "Canon EOS 5D Mark IV"),
    ("NIKON CORPORATION", "NIKON Z 6_2"),
    ("NIKON CORPORATION", "NIKON D750"),
    ("SONY", "ILCE-7M4"),
    ("SONY", "ILCE-6400"),
    ("FUJIFILM", "X-T5"),
    ("FUJIFILM", "X100V"),
    ("OLYMPUS", "E-M10MarkIII"),
    ("DJI", "FC3582"),
]

USER_COLUMNS = (
    "id",
    "username",
    "email",
    "password_hash",
    "display_name",
    "default_visibility",
    "keep_gps",
    "is_admin",
    "created_at",
    "updated_at",
)
IMAGE_COLUMNS = (
    "id",
    "owner_id",
    "org_id",
    "title",
    "description",
    "visibility",
    "status",
    "format",
    "mime_type",
    "size",
    "width",
    "height",
    "frames",
    "sha256",
    "blob_key",
    "filename",
    "keep_gps",
    "processed_at",
    "taken_at",
    "camera_make",
    "camera_model",
    "view_count",
    "created_at",
    "updated_at",
    "deleted_at",
)
# owner_id, created_at, listed: the copies the app's triggers keep (COPY runs
# with triggers off, so the seed writes them itself).
TAG_COLUMNS = ("image_id", "tag", "position", "owner_id", "created_at", "listed")


@dataclass(frozen=True)
class SearchConfig:
    images: int = 1_000_000  # PostgreSQL; SQLite gets a tenth
    queries: int = 200  # timed calls per query kind (fewer when `seconds_per_kind` runs out)
    databases: tuple[str, ...] = (SQLITE, POSTGRES)
    tags: int = 5_000
    tag_zipf: float = 1.1
    user_zipf: float = 1.0
    limit: int = 20
    depth: int = 500  # the deep page
    warmup: int = 5  # untimed calls per kind first
    seconds_per_kind: float = 60.0
    listing_goal_ms: float = 20.0
    text_goal_ms: float = 50.0
    flat_ratio: float = 1.5  # cursor at the deep page ÷ cursor at page 2, p50, either way
    seed: int = 20261128

    def images_for(self, database: str) -> int:
        return self.images if database == POSTGRES else max(1_000, self.images // 10)

    def as_json(self) -> dict[str, object]:
        return {
            "images_postgres": self.images_for(POSTGRES),
            "images_sqlite": self.images_for(SQLITE),
            "users": "images / 10",
            "queries_per_kind": self.queries,
            "seconds_per_kind": self.seconds_per_kind,
            "warmup_per_kind": self.warmup,
            "databases": list(self.databases),
            "tags": self.tags,
            "tag_zipf_s": self.tag_zipf,
            "images_per_user_zipf_s": self.user_zipf,
            "limit": self.limit,
            "deep_page": self.depth,
            "goals_p99_ms": {LISTING: self.listing_goal_ms, TEXT: self.text_goal_ms},
            "cursor_flat_ratio_p50": self.flat_ratio,
            "seed": self.seed,
            "postgres_conf": POSTGRES_CONF,
        }


# --- vocabulary -------------------------------------------------------------


@dataclass(frozen=True)
class Vocabulary:
    words: list[str]  # by frequency, most frequent first
    counts: list[int]
    tags: list[str]  # by popularity (Zipf rank)
    source: str

    def cumulative_words(self) -> list[float]:
        return list(itertools.accumulate(float(c) for c in self.counts))

    def cumulative_tags(self, s: float) -> list[float]:
        return list(itertools.accumulate((k + 1) ** -s for k in range(len(self.tags))))


def build_vocabulary(tag_count: int, seed: int) -> Vocabulary:
    """English words with real frequencies, from text every Python install has.

    The corpus is ``pydoc_data.topics`` (the language reference's prose, what
    ``help()`` shows) plus the docstrings and ``#`` comments of the standard
    library's modules (tests and idlelib left out). Words are lower-case runs
    of 3 to 14 letters not glued to code (no ``_``, ``.`` before or ``(``
    after); kept when seen at least 3 times in at least 2 sources, minus
    PostgreSQL's English stop words. Tags are those words plus the most
    frequent two-word phrases of the same text, in a seeded random order of
    popularity (so the most popular tag is not simply the most frequent word).
    """
    import pydoc_data.topics

    counts: collections.Counter[str] = collections.Counter()
    pairs: collections.Counter[str] = collections.Counter()
    sources: dict[str, set[str]] = collections.defaultdict(set)

    def feed(prose: str, where: str) -> None:
        for word in _WORD.findall(prose):
            counts[word] += 1
            sources[word].add(where)
        for first, second in _PAIR.findall(prose):
            pairs[f"{first} {second}"] += 1

    for key, prose in sorted(pydoc_data.topics.topics.items()):
        feed(prose, f"topics:{key}")
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    modules = sorted(stdlib.glob("*.py")) + sorted(stdlib.glob("*/*.py"))
    used = 0
    for path in modules:
        relative = path.relative_to(stdlib).parts
        if any(part.startswith(("test", "idlelib", "site-packages")) for part in relative):
            continue
        try:
            source = path.read_text(encoding="utf-8")
            tree = ast.parse(source)
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            continue
        used += 1
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                doc = ast.get_docstring(node, clean=False)
                if doc:
                    feed(doc, path.name)
        for line in source.splitlines():
            stripped = line.strip()
            if stripped.startswith("#"):
                feed(stripped[1:], path.name)
    kept = {
        w: c for w, c in counts.items() if c >= 3 and len(sources[w]) >= 2 and w not in STOP_WORDS
    }
    words = sorted(kept, key=lambda w: (-kept[w], w))
    phrases = [
        p
        for p, c in sorted(pairs.items(), key=lambda pc: (-pc[1], pc[0]))
        if c >= 3 and all(part in kept for part in p.split())
    ]
    tags = (words + phrases)[:tag_count]
    random.Random(seed).shuffle(tags)
    return Vocabulary(
        words=words,
        counts=[kept[w] for w in words],
        tags=tags,
        source=(
            f"pydoc_data.topics + docstrings and comments of {used} standard-library modules "
            f"(Python {sysconfig.get_python_version()}): {len(words):,} words, "
            f"{sum(kept.values()):,} occurrences; {len(tags):,} tags "
            f"({max(0, len(tags) - len(words)):,} of them two-word phrases)"
        ),
    )


# --- the data set -----------------------------------------------------------


def _ident(rng: random.Random, prefix: str) -> str:
    raw = base64.b32encode(rng.randbytes(16)).decode("ascii").rstrip("=").lower()
    return f"{prefix}_{raw}"


@dataclass
class Sample:
    """A listable image's owner and tags: query parameters that find something."""

    owner_id: str
    username: str
    tags: list[str]


class DataSet:
    """Deterministic rows, generated chunk by chunk (never all in memory)."""

    def __init__(self, config: SearchConfig, vocabulary: Vocabulary, images: int) -> None:
        self.config = config
        self.vocabulary = vocabulary
        self.images = images
        self.users = max(10, images // 10)
        rng = random.Random(config.seed)
        self.user_ids = [_ident(rng, "u") for _ in range(self.users)]
        self.usernames = [f"user{i:06d}" for i in range(self.users)]
        self.tag_rows = 0
        self.listable = 0
        #: (owner index, tag) → listable images, for the heaviest owners
        self.pair_counts: collections.Counter[tuple[int, str]] = collections.Counter()
        self.samples: list[Sample] = []

    def user_rows(self) -> list[tuple[Any, ...]]:
        rng = random.Random(self.config.seed + 1)
        rows = []
        for i in range(self.users):
            created = START - dt.timedelta(seconds=rng.randrange(SPAN_S // 2))
            rows.append(
                (
                    self.user_ids[i],
                    self.usernames[i],
                    f"{self.usernames[i]}@example.com",
                    "$argon2id$v=19$m=65536,t=3,p=4$bench$not-a-real-hash",
                    None,
                    rng.choices(("public", "unlisted", "private"), (90, 7, 3))[0],
                    rng.random() < 0.1,
                    False,
                    created,
                    created,
                )
            )
        return rows

    def chunks(self) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
        """(image rows, tag rows) per CHUNK images, in IMAGE_COLUMNS / TAG_COLUMNS order."""
        config, vocab = self.config, self.vocabulary
        rng = random.Random(config.seed + 2)
        owner_weights = list(
            itertools.accumulate((k + 1) ** -config.user_zipf for k in range(self.users))
        )
        word_weights = vocab.cumulative_words()
        tag_weights = vocab.cumulative_tags(config.tag_zipf)
        words, tags = vocab.words, vocab.tags
        format_weights = list(itertools.accumulate(f[2] for f in FORMATS))
        heavy = max(1, min(50, self.users // 100))
        reservoir = 2_000
        for start in range(0, self.images, CHUNK):
            count = min(CHUNK, self.images - start)
            owners = rng.choices(range(self.users), cum_weights=owner_weights, k=count)
            image_rows: list[tuple[Any, ...]] = []
            tag_rows: list[tuple[Any, ...]] = []
            for index, owner in enumerate(owners, start):
                image_id = _ident(rng, "img")
                owner_id = self.user_ids[owner]
                title_words = rng.choices(words, cum_weights=word_weights, k=rng.randint(2, 6))
                title = " ".join(title_words).capitalize()
                description = None
                if rng.random() < 0.7:
                    body = rng.choices(words, cum_weights=word_weights, k=rng.randint(8, 30))
                    description = " ".join(body).capitalize() + "."
                chosen = rng.choices(tags, cum_weights=tag_weights, k=rng.randint(3, 7))
                image_tags = list(dict.fromkeys(chosen))
                roll = rng.random()
                visibility = "public" if roll < 0.85 else "unlisted" if roll < 0.95 else "private"
                roll = rng.random()
                status = "ready" if roll < 0.97 else "processing" if roll < 0.99 else "failed"
                # Uploads arrive in time order, as on a live service (rows
                # and their index rowids grow with upload time), give or take
                # ten minutes.
                created = START + dt.timedelta(
                    seconds=index * SPAN_S // self.images + rng.randrange(600)
                )
                deleted = created + dt.timedelta(days=rng.randint(1, 30))
                deleted_at = deleted if rng.random() < 0.01 else None
                fmt, mime, _, bytes_per_pixel = FORMATS[
                    bisect.bisect(format_weights, rng.random() * format_weights[-1])
                ]
                width, height = rng.choice(SIZES)
                camera: tuple[str | None, str | None] = (None, None)
                taken = None
                if fmt in ("jpeg", "heic") and rng.random() < 0.8:
                    camera = rng.choice(CAMERAS)
                    taken = created - dt.timedelta(seconds=rng.randrange(30 * 86400))
                if rng.random() < 0.6:
                    filename = f"IMG_{rng.randrange(10_000):04d}.{fmt}"
                else:
                    filename = f"{'-'.join(title_words[:3]).lower()}.{fmt}"
                views = int(5 * (rng.paretovariate(1.2) - 1))
                image_rows.append(
                    (
                        image_id,
                        owner_id,
                        None,
                        title,
                        description,
                        visibility,
                        status,
                        fmt,
                        mime,
                        int(width * height * bytes_per_pixel * rng.uniform(0.6, 1.4)),
                        width,
                        height,
                        rng.randint(2, 40) if fmt == "gif" else 1,
                        rng.randbytes(32).hex(),
                        f"{owner_id}/{image_id}/original",
                        filename,
                        False,
                        created + dt.timedelta(seconds=3) if status == "ready" else None,
                        taken,
                        camera[0],
                        camera[1],
                        views,
                        created,
                        created,
                        deleted_at,
                    )
                )
                listed = visibility == "public" and status == "ready" and deleted_at is None
                tag_rows.extend(
                    (image_id, tag, p, owner_id, created, listed)
                    for p, tag in enumerate(image_tags)
                )
                if listed:
                    self.listable += 1
                    if owner < heavy:
                        self.pair_counts.update((owner, tag) for tag in image_tags)
                    sample = Sample(owner_id, self.usernames[owner], image_tags)
                    if len(self.samples) < reservoir:
                        self.samples.append(sample)
                    else:
                        slot = rng.randrange(index + 1)
                        if slot < reservoir:
                            self.samples[slot] = sample
            self.tag_rows += len(tag_rows)
            yield image_rows, tag_rows


# --- seeding ----------------------------------------------------------------


@dataclass
class Seeded:
    users: int = 0
    images: int = 0
    tag_rows: int = 0
    listable: int = 0
    index_rows: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    database_bytes: int | None = None

    @property
    def total_s(self) -> float:
        return sum(self.seconds.values())

    def as_json(self) -> dict[str, object]:
        return {
            "users": self.users,
            "images": self.images,
            "image_tags": self.tag_rows,
            "listable_public_images": self.listable,
            "search_index_rows": self.index_rows,
            "database_bytes": self.database_bytes,
            "seconds": {k: round(v, 1) for k, v in self.seconds.items()},
            "total_s": round(self.total_s, 1),
        }


async def _seed_postgres(url: str, data: DataSet, seeded: Seeded) -> None:
    import asyncpg  # type: ignore[import-untyped]

    from imghost.search.index import upsert_sql

    phase = Phases(seeded.seconds).mark
    conn = await asyncpg.connect(url)
    try:
        # The rows are consistent by construction: no per-row foreign-key triggers.
        await conn.execute("SET session_replication_role = replica")
        deferred: list[str] = []
        for table in ("images", "image_tags", "image_search"):
            for name, definition in await conn.fetch(
                """SELECT c.relname, pg_get_indexdef(i.indexrelid)
                   FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                   WHERE i.indrelid = $1::regclass
                     AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
                   ORDER BY c.relname""",
                table,
            ):
                await conn.execute(f'DROP INDEX "{name}"')
                deferred.append(definition)
        phase("drop secondary indexes")
        await conn.copy_records_to_table("users", records=data.user_rows(), columns=USER_COLUMNS)
        seeded.users = data.users
        phase("generate + COPY users")
        for image_rows, tag_rows in data.chunks():
            await conn.copy_records_to_table("images", records=image_rows, columns=IMAGE_COLUMNS)
            await conn.copy_records_to_table("image_tags", records=tag_rows, columns=TAG_COLUMNS)
            seeded.images += len(image_rows)
        seeded.tag_rows, seeded.listable = data.tag_rows, data.listable
        phase("generate + COPY images and tags")
        for definition in deferred:
            if "image_search" not in definition:
                await conn.execute(definition)
        phase("rebuild images / image_tags indexes")
    finally:
        await conn.close()

    # The app's own index statement, set-based: one INSERT … SELECT per core,
    # each over a slice of the ids (by their first random character).
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    slices = max(1, min(os.cpu_count() or 1, 8))

    async def backfill(part: int) -> None:
        letters = ", ".join(f"'{c}'" for c in alphabet[part::slices])
        one = await asyncpg.connect(url)
        try:
            await one.execute(upsert_sql("postgresql", f"substr(i.id, 5, 1) IN ({letters})"))
        finally:
            await one.close()

    await asyncio.gather(*(backfill(part) for part in range(slices)))
    phase(f"search index: upsert_sql, {slices} slices in parallel")
    conn = await asyncpg.connect(url)
    try:
        for definition in deferred:
            if "image_search" in definition:
                await conn.execute("SET maintenance_work_mem = '512MB'")
                await conn.execute(definition)
        phase("build the image_search indexes")
        await conn.execute("VACUUM ANALYZE")
        phase("VACUUM ANALYZE")
        seeded.index_rows = int(await conn.fetchval("SELECT count(*) FROM image_search"))
        seeded.database_bytes = int(
            await conn.fetchval("SELECT pg_database_size(current_database())")
        )
    finally:
        await conn.close()


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):  # SQLAlchemy's SQLite DATETIME storage format
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, bool):
        return int(value)
    return value


def _sqlite_rows(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [tuple(_sqlite_value(v) for v in row) for row in rows]


def _seed_sqlite(path: Path, data: DataSet, seeded: Seeded) -> None:
    from imghost.search.index import backfill_sql

    phase = Phases(seeded.seconds).mark
    db = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in (
            "journal_mode=MEMORY",
            "synchronous=OFF",
            "foreign_keys=OFF",
            "cache_size=-524288",
            "temp_store=MEMORY",
        ):
            db.execute(f"PRAGMA {pragma}")

        def insert(table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
            marks = ", ".join("?" for _ in columns)
            db.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", _sqlite_rows(rows)
            )

        db.execute("BEGIN")
        insert("users", USER_COLUMNS, data.user_rows())
        seeded.users = data.users
        for image_rows, tag_rows in data.chunks():
            insert("images", IMAGE_COLUMNS, image_rows)
            insert("image_tags", TAG_COLUMNS, tag_rows)
            seeded.images += len(image_rows)
        db.execute("COMMIT")
        seeded.tag_rows, seeded.listable = data.tag_rows, data.listable
        phase("generate + executemany users, images, tags")
        db.execute("BEGIN")
        db.execute(backfill_sql("sqlite"))
        db.execute("COMMIT")
        phase("search index: backfill_sql (FTS5 via triggers)")
        db.execute("INSERT INTO image_fts (image_fts) VALUES ('optimize')")
        db.execute("ANALYZE")
        phase("FTS5 optimize + ANALYZE")
        seeded.index_rows = int(db.execute("SELECT count(*) FROM image_search").fetchone()[0])
        db.execute("PRAGMA journal_mode=WAL")
    finally:
        db.close()
    seeded.database_bytes = path.stat().st_size


# --- measuring --------------------------------------------------------------


def _category(statement: str) -> str:
    lowered = statement.lower()
    if lowered.lstrip().startswith("explain"):
        return "estimate"  # the text search's match estimate: nothing to EXPLAIN
    if lowered.lstrip().startswith("select (exists (select image_collaborators"):
        return "grants"  # whether a signed-in caller holds any grant
    if "count(*)" in lowered:
        return "count"
    if lowered.lstrip().startswith("select image_tags."):
        return "tags"
    return "rows"


class Recorder:
    """Times each SQL statement of a call (and keeps them, for EXPLAIN)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.parts: dict[str, float] = {}
        self.statements: list[tuple[str, Any, float]] = []
        self.active = False
        event.listen(engine.sync_engine, "before_cursor_execute", self._before)
        event.listen(engine.sync_engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        conn.info["bench_t0"] = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if not self.active:
            return
        ms = (time.perf_counter() - conn.info.pop("bench_t0")) * 1000
        key = _category(statement)
        self.parts[key] = self.parts.get(key, 0.0) + ms
        self.statements.append((statement, parameters, ms))

    @contextlib.contextmanager
    def recording(self) -> Iterator[None]:
        self.parts, self.statements, self.active = {}, [], True
        try:
            yield
        finally:
            self.active = False


@dataclass
class Call:
    caller: Any  # imghost.access.grants.Caller
    filters: Any  # imghost.search.services.Filters
    sort: str = "newest"
    page: int = 1
    cursor: str | None = None
    expect_owner: str | None = None
    expect_tag: str | None = None
    anonymous: bool = True

    def describe(self) -> str:
        f = self.filters
        bits = [f"user={f.user}"] if f.user else []
        bits += [f"tag={t!r}" for t in f.tags]
        bits += [f"q={f.q!r}"] if f.q else []
        bits += [f"sort={self.sort}", f"page={self.page}"]
        bits += ["cursor=…"] if self.cursor else []
        who = "anonymous" if self.caller.user_id is None else f"signed in as {self.caller.user_id}"
        return f"{who}: {', '.join(bits)}"


@dataclass
class Kind:
    key: str
    label: str
    group: str  # LISTING or TEXT
    make: Callable[[random.Random], Call]


@dataclass
class KindResult:
    key: str
    label: str
    group: str
    goal_ms: float
    samples_ms: list[float] = field(default_factory=list)
    parts_ms: dict[str, list[float]] = field(default_factory=dict)
    totals: list[int] = field(default_factory=list)
    returned: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    error: str | None = None
    #: PostgreSQL: statement role → [generic plans, custom plans] made during the timed calls
    plans: dict[str, list[int]] = field(default_factory=dict)

    def pct(self, p: float) -> float | None:
        return percentile(self.samples_ms, p) if self.samples_ms else None

    def part_p50(self, key: str) -> float | None:
        values = self.parts_ms.get(key)
        return percentile(values, 50) if values else None

    @property
    def median_total(self) -> float | None:
        return percentile([float(t) for t in self.totals], 50) if self.totals else None

    @property
    def met(self) -> bool:
        p99 = self.pct(99)
        return p99 is not None and p99 < self.goal_ms

    def as_json(self) -> dict[str, object]:
        def r(value: float | None) -> float | None:
            return None if value is None else round(value, 2)

        return {
            "label": self.label,
            "group": self.group,
            "goal_p99_ms": self.goal_ms,
            "met": self.met,
            "n": len(self.samples_ms),
            "p50_ms": r(self.pct(50)),
            "p90_ms": r(self.pct(90)),
            "p99_ms": r(self.pct(99)),
            "max_ms": r(max(self.samples_ms)) if self.samples_ms else None,
            "statement_p50_ms": {k: r(self.part_p50(k)) for k in sorted(self.parts_ms)},
            "median_total": self.median_total,
            "median_returned": percentile([float(n) for n in self.returned], 50)
            if self.returned
            else None,
            "postgres_plans_generic_custom": self.plans,
            "problems": self.problems[:20],
            "error": self.error,
            "samples_ms": [round(v, 3) for v in self.samples_ms],
        }


@dataclass
class DatabaseResult:
    name: str
    description: str = ""
    seeded: Seeded = field(default_factory=Seeded)
    depth: int = 0
    deep_pairs: list[tuple[str, str, int]] = field(default_factory=list)
    common_words: list[str] = field(default_factory=list)
    rare_words: list[str] = field(default_factory=list)
    kinds: list[KindResult] = field(default_factory=list)
    checks: Checks = field(default_factory=Checks)
    explain: str = ""
    version: str = ""
    error: str | None = None
    traceback: str | None = None
    phases_s: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and self.checks.ok

    def kind(self, key: str) -> KindResult | None:
        return next((k for k in self.kinds if k.key == key), None)

    def ratio(self, key: str, against: str, p: float = 50) -> float | None:
        mine, theirs = self.kind(key), self.kind(against)
        if mine is None or theirs is None:
            return None
        a, b = mine.pct(p), theirs.pct(p)
        return a / b if a is not None and b else None

    def as_json(self) -> dict[str, object]:
        def r(value: float | None) -> float | None:
            return None if value is None else round(value, 2)

        return {
            "description": self.description,
            "version": self.version,
            "ok": self.ok,
            "error": self.error,
            "traceback": self.traceback,
            "seeding": self.seeded.as_json(),
            "deep_page": self.depth,
            "deep_pairs": [
                {"username": u, "tag": t, "listable_images": n} for u, t, n in self.deep_pairs
            ],
            "common_words": self.common_words,
            "rare_words": self.rare_words,
            "kinds": {k.key: k.as_json() for k in self.kinds},
            "ratios": {
                "cursor_deep_over_cursor_page2_p50": r(
                    self.ratio("user_tag_cursor_deep", "user_tag_cursor_2")
                ),
                "cursor_deep_over_cursor_page2_p99": r(
                    self.ratio("user_tag_cursor_deep", "user_tag_cursor_2", 99)
                ),
                "cursor_deep_over_page1_p50": r(self.ratio("user_tag_cursor_deep", "user_tag")),
                "offset_deep_over_page1_p50": r(self.ratio("user_tag_offset", "user_tag")),
            },
            "checks": self.checks.as_json(),
            "phases_s": {k: round(v, 1) for k, v in self.phases_s.items()},
        }


@dataclass
class SearchResult:
    config: SearchConfig
    vocabulary: str = ""
    databases: list[DatabaseResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.databases) and all(d.ok for d in self.databases)

    def as_json(self) -> dict[str, object]:
        return {
            "vocabulary": self.vocabulary,
            "databases": {d.name: d.as_json() for d in self.databases},
        }


def _query_words(
    vocab: Vocabulary, config: SearchConfig, images: int
) -> tuple[list[str], list[str]]:
    """Common and rare words to search for, by expected share of images matched.

    A word is found in an image through its title and description (drawn with
    the word's frequency) and through its tags (every word is a tag too, with
    its Zipf popularity). Rare words are the least expected ones that are not
    a stem-prefix of another word or tag (``cat`` would also find
    ``caterpillar``), so their matches stay few.
    """
    total = sum(vocab.counts)
    draws = 4 + 0.7 * 19  # title words + description words, on average
    tag_weights = vocab.cumulative_tags(config.tag_zipf)
    tag_total = tag_weights[-1]
    tag_rank = {t: k for k, t in enumerate(vocab.tags)}
    expected: dict[str, float] = {}
    for word, count in zip(vocab.words, vocab.counts, strict=True):
        share = draws * count / total
        if word in tag_rank:
            share += 5 * (tag_rank[word] + 1) ** -config.tag_zipf / tag_total
        expected[word] = images * share
    ranked = sorted(expected, key=lambda w: (-expected[w], w))
    everything = sorted(set(vocab.words) | {p for t in vocab.tags for p in t.split()})

    def lonely(word: str) -> bool:
        stem = word[: max(4, len(word) - 2)]
        lo = bisect.bisect_left(everything, stem)
        return not any(
            other != word and other.startswith(stem)
            for other in itertools.islice(everything, lo, lo + 50)
        )

    rare = [w for w in reversed(ranked) if len(w) >= 5 and lonely(w)][:20]
    return ranked[:20], rare


def _kinds(
    config: SearchConfig,
    data: DataSet,
    deep: list[tuple[str, str, str, str, str]],  # (username, owner id, tag, cursor 2, cursor deep)
    depth: int,
    common: list[str],
    rare: list[str],
) -> list[Kind]:
    from imghost.access.grants import Caller
    from imghost.search.services import Filters

    anonymous = Caller()
    vocab = data.vocabulary
    tag_weights = vocab.cumulative_tags(config.tag_zipf)
    samples = data.samples

    def user_tag(rng: random.Random) -> Call:
        s = rng.choice(samples)
        tag = rng.choice(s.tags)
        return Call(
            anonymous, Filters(user=s.username, tags=[tag]), expect_owner=s.owner_id, expect_tag=tag
        )

    def user_tag_owner(rng: random.Random) -> Call:
        s = rng.choice(samples)
        tag = rng.choice(s.tags)
        return Call(
            Caller(user_id=s.owner_id),
            Filters(user=s.username, tags=[tag]),
            expect_owner=s.owner_id,
            expect_tag=tag,
            anonymous=False,
        )

    def deep_call(rng: random.Random, how: str) -> Call:
        username, owner, tag, cursor2, cursor_deep = rng.choice(deep)
        filters = Filters(user=username, tags=[tag])
        if how == "offset":
            return Call(anonymous, filters, page=depth, expect_owner=owner, expect_tag=tag)
        cursor = cursor2 if how == "cursor2" else cursor_deep
        return Call(anonymous, filters, cursor=cursor, expect_owner=owner, expect_tag=tag)

    def offset(rng: random.Random) -> Call:
        return deep_call(rng, "offset")

    def cursor_2(rng: random.Random) -> Call:
        return deep_call(rng, "cursor2")

    def cursor(rng: random.Random) -> Call:
        return deep_call(rng, "cursor")

    def popular_tag(rng: random.Random) -> str:
        return vocab.tags[bisect.bisect(tag_weights, rng.random() * tag_weights[-1])]

    def most_viewed(rng: random.Random) -> Call:
        return Call(anonymous, Filters(), sort="most_viewed")

    def tag(rng: random.Random) -> Call:
        t = popular_tag(rng)
        return Call(anonymous, Filters(tags=[t]), expect_tag=t)

    def tag_signed_in(rng: random.Random) -> Call:
        t = popular_tag(rng)
        return Call(
            Caller(user_id=rng.choice(samples).owner_id),
            Filters(tags=[t]),
            expect_tag=t,
            anonymous=False,
        )

    def words(pool: list[str], sort: str = "relevance") -> Callable[[random.Random], Call]:
        return lambda rng: Call(anonymous, Filters(q=rng.choice(pool)), sort=sort)

    kinds = [
        Kind("user_tag", "user + tag, page 1", LISTING, user_tag),
        Kind(
            "user_tag_owner", "user + tag, page 1, signed in as the owner", LISTING, user_tag_owner
        ),
    ]
    if deep:
        kinds += [
            Kind("user_tag_offset", f"user + tag, page {depth} by offset", LISTING, offset),
            Kind("user_tag_cursor_2", "user + tag, page 2 by cursor", LISTING, cursor_2),
            Kind("user_tag_cursor_deep", f"user + tag, page {depth} by cursor", LISTING, cursor),
        ]
    kinds += [
        Kind("most_viewed", "most viewed, page 1", LISTING, most_viewed),
        Kind("tag", "tag across all users, page 1", LISTING, tag),
        Kind("tag_signed_in", "tag across all users, page 1, signed in", LISTING, tag_signed_in),
        Kind("text_common", "full text, common word, newest", TEXT, words(common, "newest")),
        Kind("text_rare", "full text, rare word, newest", TEXT, words(rare, "newest")),
        Kind("text_common_relevance", "full text, common word, relevance", TEXT, words(common)),
        Kind("text_rare_relevance", "full text, rare word, relevance", TEXT, words(rare)),
    ]
    return kinds


async def _call(
    factory: async_sessionmaker[AsyncSession], call: Call, limit: int
) -> tuple[float, Any]:
    from imghost.search.services import search

    async with factory() as session:
        started = time.perf_counter()
        page = await search(
            session,
            call.caller,
            call.filters,
            sort=call.sort,  # type: ignore[arg-type]
            page=call.page,
            limit=limit,
            cursor=call.cursor,
        )
        elapsed = (time.perf_counter() - started) * 1000
    return elapsed, page


def _problems(call: Call, page: Any) -> list[str]:
    found = []
    for image in page.images:
        if image.deleted_at is not None:
            found.append(f"deleted image {image.id} listed")
        if call.anonymous and (image.visibility != "public" or image.status != "ready"):
            found.append(f"{image.visibility}/{image.status} image {image.id} shown to anonymous")
        if call.expect_owner and image.owner_id != call.expect_owner:
            found.append(f"image {image.id} of another owner")
        if call.expect_tag and call.expect_tag not in image.tags:
            found.append(f"image {image.id} without tag {call.expect_tag!r}")
    return found


async def _prepare_deep(
    factory: async_sessionmaker[AsyncSession],
    data: DataSet,
    config: SearchConfig,
    result: DatabaseResult,
) -> list[tuple[str, str, str, str, str]]:
    """Deep user + tag listings: page ``depth`` where possible, else the deepest full one.

    Cursors are the ones a client walking the listing would hold: page 1's
    ``next`` (for page 2), page ``depth - 1``'s ``next`` (for page ``depth``).
    """
    from imghost.access.grants import Caller
    from imghost.search.services import Filters

    limit = config.limit
    ranked = data.pair_counts.most_common()
    if not ranked or ranked[0][1] < 3 * limit:
        return []
    depth = min(config.depth, ranked[0][1] // limit)
    pairs = [(owner, tag, n) for (owner, tag), n in ranked if n >= depth * limit][:8]
    result.depth = depth
    result.deep_pairs = [(data.usernames[o], t, n) for o, t, n in pairs]
    prepared = []
    for owner, tag, _ in pairs:
        filters = Filters(user=data.usernames[owner], tags=[tag])
        _, first = await _call(factory, Call(Caller(), filters), limit)
        _, before = await _call(factory, Call(Caller(), filters, page=depth - 1), limit)
        _, by_offset = await _call(factory, Call(Caller(), filters, page=depth), limit)
        _, by_cursor = await _call(factory, Call(Caller(), filters, cursor=before.next), limit)
        same = [i.id for i in by_offset.images] == [i.id for i in by_cursor.images]
        result.checks.add(
            f"{data.usernames[owner]} + {tag!r}: page {depth} by cursor = page {depth} by offset",
            same and len(by_cursor.images) == limit,
            f"{len(by_cursor.images)} images, total {by_offset.total}",
        )
        prepared.append((data.usernames[owner], data.user_ids[owner], tag, first.next, before.next))
    return prepared


# One loop per query kind that warms up, samples, reads plan counts and
# EXPLAINs; the steps share the kind's state, so they stay in one place.
async def _measure(  # noqa: C901
    engine: AsyncEngine,
    data: DataSet,
    config: SearchConfig,
    result: DatabaseResult,
    progress: Callable[[str], None],
) -> None:
    from imghost.db import session_factory

    factory = session_factory(engine)
    recorder = Recorder(engine)
    progress(f"{result.name}: preparing deep pages")
    deep = await _prepare_deep(factory, data, config, result)
    common, rare = _query_words(data.vocabulary, config, data.images)
    result.common_words, result.rare_words = common, rare
    kinds = _kinds(config, data, deep, result.depth, common, rare)
    explain: list[str] = []
    postgres = engine.dialect.name == "postgresql"
    for number, kind in enumerate(kinds):
        goal = config.listing_goal_ms if kind.group == LISTING else config.text_goal_ms
        outcome = KindResult(kind.key, kind.label, kind.group, goal)
        result.kinds.append(outcome)
        rng = random.Random(config.seed + 100 + number)
        try:
            for _ in range(config.warmup):
                await _call(factory, kind.make(rng), config.limit)
            before = await _plan_counts(factory) if postgres else {}
            deadline = time.perf_counter() + config.seconds_per_kind
            calls: list[Call] = []
            seen: set[str] = set()
            for index in range(config.queries):
                progress(f"{result.name}: {kind.label} ({index + 1}/{config.queries})")
                call = kind.make(rng)
                with recorder.recording():
                    elapsed, page = await _call(factory, call, config.limit)
                calls.append(call)
                seen.update(statement for statement, _, _ in recorder.statements)
                outcome.samples_ms.append(elapsed)
                for key in ("estimate", "grants", "rows", "count", "tags"):
                    outcome.parts_ms.setdefault(key, []).append(recorder.parts.get(key, 0.0))
                if page.total is not None:
                    outcome.totals.append(page.total)
                outcome.returned.append(len(page.images))
                outcome.problems += _problems(call, page)
                if time.perf_counter() > deadline and index >= 19:
                    break
            if postgres:
                after = await _plan_counts(factory)
                for statement, (generic, custom) in after.items():
                    if statement not in seen:
                        continue  # pre-ping, plan counts, other kinds' statements
                    was = before.get(statement, (0, 0))
                    plans = outcome.plans.setdefault(_category(statement), [0, 0])
                    plans[0] += generic - was[0]
                    plans[1] += custom - was[1]
            progress(f"{result.name}: EXPLAIN {kind.label}")
            p50 = outcome.pct(50) or 0.0
            typical = min(range(len(calls)), key=lambda i: abs(outcome.samples_ms[i] - p50))
            slowest = max(range(len(calls)), key=lambda i: outcome.samples_ms[i])
            chosen = [
                (
                    f"the call nearest the p50 ({outcome.samples_ms[typical]:.1f} ms)",
                    calls[typical],
                )
            ]
            if slowest != typical:
                chosen.append(
                    (f"the slowest call ({outcome.samples_ms[slowest]:.1f} ms)", calls[slowest])
                )
            explain.append(await _explain(engine, factory, recorder, kind, chosen, config.limit))
        except Exception as exc:
            outcome.error = f"{type(exc).__name__}: {exc}"
        for key in [k for k, v in outcome.parts_ms.items() if not any(v)]:
            del outcome.parts_ms[key]
        result.checks.add(
            f"{kind.label}: every result visible to the caller and matching the filters",
            outcome.error is None and not outcome.problems,
            outcome.error
            or "; ".join(dict.fromkeys(outcome.problems[:5]))
            or f"{len(outcome.samples_ms)} calls",
        )
    for outcome in result.kinds:
        p99 = outcome.pct(99)
        if p99 is not None:
            result.checks.add(
                f"{outcome.label}: p99 < {outcome.goal_ms:.0f} ms",
                outcome.met,
                f"p99 {p99:.1f} ms, p50 {outcome.pct(50) or 0:.1f} ms, "
                f"{len(outcome.samples_ms)} calls",
            )
    flat = result.ratio("user_tag_cursor_deep", "user_tag_cursor_2")
    if flat is not None:
        result.checks.add(
            f"cursor pages flat with depth: p50 at page {result.depth} ÷ p50 at page 2 "
            f"within ×{config.flat_ratio} either way",
            max(flat, 1 / flat) <= config.flat_ratio,
            f"{flat:.2f}",
        )
    rare_kind = result.kind("text_rare")
    if rare_kind and rare_kind.totals:
        result.checks.add(
            "rare words are found (and are rare)",
            (rare_kind.median_total or 0) > 0,
            f"matches per word: median {rare_kind.median_total:.0f}, "
            f"min {min(rare_kind.totals)}, max {max(rare_kind.totals)}",
        )
    result.explain = "\n".join(explain)


async def _explain(
    engine: AsyncEngine,
    factory: async_sessionmaker[AsyncSession],
    recorder: Recorder,
    kind: Kind,
    calls: list[tuple[str, Call]],
    limit: int,
) -> str:
    """Each statement of the given calls, run again, then EXPLAINed.

    PostgreSQL: the rows and count statements twice, with a custom plan (made
    for these parameter values) and with a generic one (what a prepared
    statement may switch to after five runs: asyncpg prepares every statement).
    """
    postgres = engine.dialect.name == "postgresql"
    lines = [f"=== {kind.label} ===", ""]
    for why, call in calls:
        with recorder.recording():
            elapsed, _ = await _call(factory, call, limit)
        lines += [f"## {why}: {call.describe()}", f"wall time now: {elapsed:.1f} ms", ""]
        async with engine.connect() as conn:
            for number, (statement, parameters, ms) in enumerate(recorder.statements, 1):
                category = _category(statement)
                lines += [
                    f"--- statement {number} ({category}), {ms:.2f} ms in this call",
                    statement.strip(),
                    f"parameters: {parameters!r}"[:2000],
                    "",
                ]
                if category == "estimate":
                    continue
                if not postgres:
                    query = "EXPLAIN QUERY PLAN " + statement
                    lines += _sqlite_plan((await conn.exec_driver_sql(query, parameters)).all())
                    lines.append("")
                    continue
                query = "EXPLAIN (ANALYZE, BUFFERS) " + statement
                rows = (await conn.exec_driver_sql(query, parameters)).all()
                lines.append("[custom plan: planned for these values]")
                lines += [str(row[0]) for row in rows] + [""]
                if category in ("rows", "count"):
                    lines.append("[generic plan: PREPARE, force_generic_plan, EXECUTE]")
                    lines += await _generic_plan(conn, statement, parameters)
                    lines.append("")
            await conn.rollback()
    return "\n".join(lines) + "\n"


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dt.datetime):
        value = value.isoformat()
    return "'" + str(value).replace("'", "''") + "'"


async def _generic_plan(conn: Any, statement: str, parameters: Sequence[Any]) -> list[str]:
    """EXPLAIN ANALYZE of the plan a prepared statement gets without its values.

    EXPLAIN of a statement with bound parameters always plans for the values,
    so the statement is PREPAREd by name on the driver connection and
    EXECUTEd under ``plan_cache_mode = force_generic_plan``.
    """
    raw = (await conn.get_raw_connection()).driver_connection
    await raw.execute(f"PREPARE bench_generic AS {statement}")
    try:
        await raw.execute("SET plan_cache_mode = force_generic_plan")
        values = ", ".join(_literal(v) for v in parameters)
        rows = await raw.fetch(f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_generic({values})")
        return [str(row[0]) for row in rows]
    finally:
        await raw.execute("RESET plan_cache_mode")
        await raw.execute("DEALLOCATE bench_generic")


async def _plan_counts(factory: async_sessionmaker[AsyncSession]) -> dict[str, tuple[int, int]]:
    """PostgreSQL: generic and custom plans made so far per prepared statement
    (of the pool's one connection)."""
    async with factory() as session:
        rows = await session.execute(
            text("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements")
        )
        return {str(r[0]): (int(r[1]), int(r[2])) for r in rows}


def _sqlite_plan(rows: Sequence[Any]) -> list[str]:
    depth: dict[int, int] = {0: 0}
    out = []
    for node, parent, _, detail in rows:
        level = depth.get(parent, 0) + 1
        depth[node] = level
        out.append(f"{'  ' * (level - 1)}{detail}")
    return out


# --- running ----------------------------------------------------------------


def run(config: SearchConfig, progress: Callable[[str], None]) -> SearchResult:
    result = SearchResult(config)
    progress("building the vocabulary")
    vocabulary = build_vocabulary(config.tags, config.seed)
    result.vocabulary = vocabulary.source
    for name in config.databases:
        result.databases += _run_database(name, config, vocabulary, progress)
    return result


def _run_database(
    name: str, config: SearchConfig, vocabulary: Vocabulary, progress: Callable[[str], None]
) -> list[DatabaseResult]:
    """Seed and measure one database; errors are recorded, never raised (Ctrl-C still is).

    The engine is the service's own (``imghost.db.create_engine``), with its
    connection settings (on PostgreSQL: custom plans, no JIT).
    """
    from imghost.db import create_engine
    from imghost.migrate import upgrade
    from imghost.testing.postgres import psql, start_postgres

    result = DatabaseResult(name)
    results = [result]
    phase = Phases(result.phases_s).mark
    data = DataSet(config, vocabulary, config.images_for(name))
    with contextlib.ExitStack() as stack:
        try:
            if name == POSTGRES:
                progress(f"{name}: starting a throwaway cluster")
                server = start_postgres(POSTGRES_CONF)
                stack.callback(server.stop)
                psql(server, f"CREATE DATABASE {DATABASE}")
                url = server.url(DATABASE)
                result.description = "PostgreSQL (asyncpg), throwaway cluster, fsync off"
            else:
                tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="imghost-search-"))
                path = Path(tmp) / "imghost.db"
                url = f"sqlite+aiosqlite:///{path}"
                result.description = "SQLite (aiosqlite, WAL)"
            upgrade(url)
            phase("start + migrate")
            progress(f"{name}: seeding {data.images:,} images")
            if name == POSTGRES:
                asyncio.run(_seed_postgres(url, data, result.seeded))
            else:
                _seed_sqlite(path, data, result.seeded)
            phase("seed")
            # One connection: every timed call reuses its prepared statements,
            # as a busy pooled connection of the service would.
            engine = create_engine(url, pool_size=1, max_overflow=0)
            asyncio.run(_measure_with_engine(engine, data, config, result, progress))
            phase("measure")
        except Exception as exc:
            result.error = f"{type(exc).__name__}: {exc}"
            result.traceback = traceback.format_exc()
    return results


async def _measure_with_engine(
    engine: AsyncEngine,
    data: DataSet,
    config: SearchConfig,
    result: DatabaseResult,
    progress: Callable[[str], None],
) -> None:
    # As the service does after startup (imghost.heap): what is alive now —
    # the models and services, and the harness's own data set — is kept out
    # of the collector's full passes, which otherwise land in timed calls.
    import imghost.search.services  # noqa: F401  (the service imports it at startup)
    from imghost import heap

    heap.freeze()
    try:
        async with engine.connect() as conn:
            version = (
                "SELECT version()"
                if engine.dialect.name == "postgresql"
                else "SELECT 'SQLite ' || sqlite_version()"
            )
            result.version = str((await conn.execute(text(version))).scalar_one())
        await _measure(engine, data, config, result, progress)
    finally:
        heap.thaw()
        await engine.dispose()
