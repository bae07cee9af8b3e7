"""What a running app holds: settings, the database, the blob store, the pools.

Part of the composition root, with ``app``, ``composition``, ``deps`` and
``cli``: built once by ``create_app``'s lifespan (or by a CLI command or the
worker) and reached from routes through ``deps.Ctx``. Nothing else imports
it: every other module gets what it needs as parameters, often a small deps
dataclass of its own feature, which the properties below build.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import imghost.models  # noqa: F401 - every mapper registered before any ORM use
from imghost.access.credentials import CredentialKeys
from imghost.accounts.tasks import DeletionDeps
from imghost.analytics.counter import ViewCounter
from imghost.auth.last_use import LastUse
from imghost.auth.services import TokenSettings
from imghost.auth.throttle import LoginThrottle
from imghost.cdn import services as cdn
from imghost.cdn.config import purge_config
from imghost.db import create_engine, session_factory
from imghost.delivery.egress import EgressGate
from imghost.delivery.facts_cache import FactsCache
from imghost.delivery.hot_blobs import HotBlobs
from imghost.exports.links import ExportLinks
from imghost.exports.tasks import ExportDeps
from imghost.images import changes as image_changes
from imghost.imaging.clamd import ClamdScanner
from imghost.imaging.sniff import sniff
from imghost.lifecycle.purge import PurgeDeps, purge_image
from imghost.maintenance.gc import GcDeps
from imghost.notifications.tasks import NotificationDeps
from imghost.processing.deps import ProcessingDeps
from imghost.processing.hashlists import HashLists
from imghost.processing.ondemand import OnDemandRenderer
from imghost.processing.pool import PixelPool
from imghost.reads import FastReader, fast_reader
from imghost.replicas.pool import ReplicaSet
from imghost.replicas.sticky import StickyWriters
from imghost.reports.throttle import ReportLimit
from imghost.settings import Settings
from imghost.signing import SigningKeys
from imghost.storage import BlobStore, open_store
from imghost.storage.config import keyring
from imghost.storage.factory import open_resumable
from imghost.storage.resumable import ResumableStore


def sniffed_type(head: bytes) -> str | None:
    found = sniff(head)
    return found.mime if found else None


def malware_scanner(settings: Settings) -> ClamdScanner | None:
    """clamd after the structural scan, when IMGHOST_CLAMD_ADDRESS names one."""
    if not settings.clamd_address:
        return None
    return ClamdScanner(settings.clamd_address, settings.clamd_timeout)


def hash_lists(settings: Settings) -> HashLists | None:
    """The operator's known-bad hash lists, when IMGHOST_HASHLIST_* name any
    (checked at start-up by ``processing.config``)."""
    return HashLists.open(
        settings.hashlist_sha256,
        settings.hashlist_pdq,
        settings.hashlist_pdq_distance,
        settings.hashlist_reload_check,
    )


@dataclass
class AppContext:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    store: BlobStore
    # Where tus uploads keep their bytes until they are whole.
    resumable: ResumableStore
    reads: FastReader
    # Process pool for pixel work (jobs and on-demand renders); processes start
    # on first use, so a server that never renders big images never forks.
    pixels: PixelPool
    # Failed-login and sign-up counters (memory, or Redis when configured).
    logins: LoginThrottle
    # Renders missing derivatives on request (single-flight, bounded).
    renderer: OnDemandRenderer
    # Abuse reports per client address (memory, or Redis when configured).
    reports: ReportLimit
    # What this process last read about the images it serves, and their small
    # blobs' bytes: a cached view costs no database read and no store read.
    facts: FactsCache
    hot: HotBlobs
    # Read replicas (IMGHOST_DATABASE_REPLICA_URLS) and who must not read them
    # yet for having just written; None without replicas.
    replicas: ReplicaSet | None = None
    sticky: StickyWriters | None = None
    # Views, downloads and bytes served, buffered until the next analytics flush.
    views: ViewCounter = field(default_factory=ViewCounter)
    # When each session and API key was last used, written at most once a minute.
    last_use: LastUse = field(init=False)
    # Hotlink allow-lists and the accounts over their bandwidth budget, reloaded
    # every IMGHOST_EGRESS_REFRESH seconds for delivery to decide in memory.
    egress: EgressGate = field(init=False)
    _unwatch: Callable[[], None] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.last_use = LastUse(self.sessions)
        self.egress = EgressGate(self.sessions, self.settings)
        # A change committed in this process (a request, a job, a command) is
        # forgotten at once; one made in another reaches it within
        # IMGHOST_DELIVERY_FACTS_TTL.
        self._unwatch = image_changes.watch(self.facts.forget)

    @functools.cached_property
    def signing_keys(self) -> SigningKeys:
        return SigningKeys.parse(self.settings.signing_keys, self.settings.secret_key)

    @property
    def tokens(self) -> TokenSettings:
        return TokenSettings(
            self.settings.secret_key,
            self.settings.access_token_ttl,
            self.settings.refresh_token_ttl,
            self.settings.mfa_challenge_ttl,
        )

    # --- what each feature is handed -------------------------------------------

    @functools.cached_property
    def credentials(self) -> CredentialKeys:
        return CredentialKeys(
            self.sessions, self.settings.secret_key, self.signing_keys, self.last_use.seen
        )

    @property
    def processing(self) -> ProcessingDeps:
        return self.renderer.deps

    @functools.cached_property
    def purging(self) -> PurgeDeps:
        return PurgeDeps(self.sessions, self.store, self.resumable, self.settings.trash_retention)

    @functools.cached_property
    def deletions(self) -> DeletionDeps:
        return DeletionDeps(
            self.sessions,
            self.store,
            functools.partial(purge_image, self.purging),
            self.settings.trash_retention,
        )

    @functools.cached_property
    def exports(self) -> ExportDeps:
        links = ExportLinks(
            SigningKeys.single(self.settings.secret_key),
            self.settings.public_base_url,
            self.settings.export_link_ttl,
        )
        return ExportDeps(self.sessions, self.store, self.settings.export_retention, links)

    @functools.cached_property
    def gc(self) -> GcDeps:
        return GcDeps(self.sessions, self.store, self.resumable, self.settings.gc_grace)

    @functools.cached_property
    def notifications(self) -> NotificationDeps:
        return NotificationDeps(self.sessions, self.settings)

    @classmethod
    def build(cls, settings: Settings) -> AppContext:
        engine = create_engine(settings.database_url, pool_timeout=settings.db_pool_timeout)
        purges = purge_config(settings)
        info = cdn.session_info(purges.configured, purges.attempts)
        sessions = session_factory(engine, info)
        replicas = ReplicaSet.open(settings, info)
        store = open_store(settings.storage_url, settings.tmp_dir, keyring(settings))
        pixels = PixelPool(
            settings.worker_concurrency or max(os.cpu_count() or 1, 1),
            settings.job_memory_limit,
        )
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            store=store,
            resumable=open_resumable(
                store, settings.storage_url, settings.s3_part_size, sniffed_type
            ),
            reads=fast_reader(settings.database_url, engine),
            pixels=pixels,
            logins=LoginThrottle(settings),
            renderer=OnDemandRenderer(
                ProcessingDeps(
                    sessions,
                    store,
                    pixels,
                    settings,
                    malware_scanner(settings),
                    hash_lists(settings),
                )
            ),
            reports=ReportLimit(settings.report_rate_limit, settings.redis_url),
            facts=FactsCache(settings.delivery_facts_ttl),
            hot=HotBlobs(settings.delivery_hot_bytes),
            replicas=replicas,
            sticky=(
                StickyWriters(settings.redis_url, settings.replica_sticky_seconds)
                if replicas is not None
                else None
            ),
        )

    async def close(self) -> None:
        self._unwatch()
        await self.egress.close()
        await self.store.close()
        await self.reads.close()
        if self.replicas is not None:
            await self.replicas.close()
        if self.sticky is not None:
            await self.sticky.close()
        await self.logins.close()
        await self.reports.close()
        await asyncio.to_thread(self.pixels.close)
        await self.engine.dispose()
