"""The ASGI application: composition of every feature's router."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from imghost import __version__, composition, heap, logs, metrics, migrate, server_tls
from imghost.accounts.api import router as accounts_router
from imghost.accounts.deletion_api import router as deletion_router
from imghost.admin.images_api import router as admin_images_router
from imghost.admin.reports_api import router as admin_reports_router
from imghost.admin.status_api import router as admin_status_router
from imghost.admin.suspensions_api import router as admin_suspensions_router
from imghost.admin.takedowns_api import router as admin_takedowns_router
from imghost.admin.users_api import router as admin_users_router
from imghost.albums.api import router as albums_router
from imghost.analytics.api import router as analytics_router
from imghost.analytics.flush import Flusher
from imghost.audit.api import router as audit_router
from imghost.audit.origin import AuditOrigin
from imghost.auth.account_api import router as account_router
from imghost.auth.api import router as auth_router
from imghost.auth.mfa_api import router as mfa_router
from imghost.auth.sessions_api import router as sessions_router
from imghost.bodies import BodyLimits
from imghost.checks import check_settings
from imghost.context import AppContext
from imghost.delivery.api import lean as delivery_lean
from imghost.delivery.api import router as delivery_router
from imghost.delivery.derivatives import router as derivatives_router
from imghost.draining import Draining, on_stop_signals
from imghost.errors import install_handlers
from imghost.exports.api import router as exports_router
from imghost.hotlink.api import router as hotlink_router
from imghost.images.api import router as images_router
from imghost.jobs.worker import Worker
from imghost.lifecycle.api import router as lifecycle_router
from imghost.middleware import (
    ApiCors,
    RejectUnsafeTargets,
    ResponseHeaders,
    UnexpectedErrors,
)
from imghost.migrate import upgrade
from imghost.moderation.api import router as moderation_router
from imghost.notifications.api import router as notifications_router
from imghost.openapi import install_openapi
from imghost.ops.api import router as ops_router
from imghost.ops.services import Ops
from imghost.ops.telemetry import Telemetry
from imghost.orgs.api import router as orgs_router
from imghost.quotas.api import router as quotas_router
from imghost.ratelimit.middleware import HEADERS as RATE_HEADERS
from imghost.ratelimit.middleware import RateLimits
from imghost.replicas.middleware import MarkWriters
from imghost.reports.api import router as reports_router
from imghost.search.api import router as search_router
from imghost.settings import Settings
from imghost.sharing.collaborators_api import router as collaborators_router
from imghost.sharing.links_api import router as links_router
from imghost.storage.config import unreadable_blob
from imghost.storage.envelope import BlobCorrupt
from imghost.tus import protocol as tus_protocol
from imghost.tus.api import router as tus_router
from imghost.tus.middleware import TusProtocol
from imghost.uploads.api import router as uploads_router
from imghost.uploads.slots import UploadSlots
from imghost.uploads.validation import Validation
from imghost.web.api import router as web_router

log = logging.getLogger(__name__)

DESCRIPTION = """
Self-hostable image hosting. Authenticate with `Authorization: Bearer <token>`
(an access token from `/v1/auth/login` or a personal API key). Errors are
`application/problem+json` with a stable `code`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    # Every feature checks its own settings here, before anything starts.
    settings = check_settings(settings or Settings.from_env())
    logs.configure(settings)
    # Here, not in the lifespan: each API process that uvicorn spawns builds
    # its app, and records into the host's one directory from then on.
    if settings.metrics_token:
        metrics.enable(settings.metrics_dir, "api")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.auto_migrate:
            await asyncio.to_thread(upgrade, settings.database_url)
        ctx = AppContext.build(settings)
        app.state.ctx = ctx
        app.state.validation = Validation(settings, ctx.pixels)
        app.state.ops = Ops.build(ctx.sessions, ctx.store, settings, migrate.revisions)
        flusher = Flusher(ctx.views, ctx.sessions, settings.analytics_flush_interval, settings)
        flusher.start()
        ctx.last_use.start()
        worker: asyncio.Task[None] | None = None
        in_process: Worker | None = None
        draining: Draining = app.state.draining
        if settings.run_worker:
            in_process = composition.worker(ctx)
            worker = asyncio.create_task(in_process.run())
            # From the SIGTERM on, beside the requests' drain: no new job, and
            # the running ones get the same time as the requests.
            stopping = in_process
            draining.on_start(lambda: stopping.stop(settings.shutdown_timeout))
        if settings.freeze_heap:
            heap.freeze()
        try:
            with on_stop_signals(draining):
                yield
        finally:
            if settings.freeze_heap:
                heap.thaw()
            # After the last request, and before the worker is cancelled: a job
            # cancelled mid-write can leave its SQLite connection holding the
            # write lock until the engine is disposed, and the final counts
            # would then wait out the busy timeout and be lost.
            await flusher.stop()
            await ctx.last_use.stop()
            if worker is not None and in_process is not None:
                # Stopped without a signal (tests, an embedding): the jobs
                # running are abandoned at once, their leases released.
                in_process.stop(0)
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
            await app.state.ops.close()
            await ctx.close()
            metrics.mark_dead()

    app = FastAPI(
        title="imghost",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    # Set at the first SIGTERM, while requests drain (imghost.draining).
    app.state.draining = Draining()
    # Middleware added later wraps what was added before: the first added is
    # the innermost, the last (ResponseHeaders) the outermost.
    if settings.database_replica_urls:
        # Innermost of all: it sees the route's own status, and the very scope
        # in which deps notes the writer (read replicas: read-your-writes).
        app.add_middleware(MarkWriters, writers=lambda: app.state.ctx.sticky)
    # Just before routing; UnexpectedErrors, outside it, catches a bug in it.
    app.add_middleware(RejectUnsafeTargets)
    # Each request's client address and user agent, for the audit events it records.
    app.add_middleware(AuditOrigin)
    # Inside TusProtocol (sees the PATCH of a method override) and inside
    # UnexpectedErrors (a bug in it answers problem+json, not a dropped line).
    app.add_middleware(RateLimits, settings=settings)
    # Before routing (FastAPI parses declared bodies before dependencies),
    # outside RateLimits (which peeks at a presigned upload's JSON: that read
    # is bounded too), inside TusProtocol (sees a PATCH sent as POST with a
    # method override). It only wraps `receive`: a caller over its rate
    # limits is still refused unread.
    app.add_middleware(BodyLimits, settings=settings)
    app.state.upload_slots = UploadSlots(settings.uploads_per_user, settings.uploads_per_address)
    app.add_middleware(UnexpectedErrors)
    app.add_middleware(TusProtocol)
    # Outside every middleware but ResponseHeaders, so error responses carry
    # CORS headers too (a browser client could not read the problem otherwise).
    app.add_middleware(
        ApiCors,
        origins=settings.cors_origins,
        expose=[
            *tus_protocol.RESPONSE_HEADERS,
            *RATE_HEADERS,
            "ETag",
            "Content-Range",
            "Retry-After",
        ],
    )
    # Outermost: every answer gets its headers, CORS preflights and the
    # problems of every other middleware included.
    app.add_middleware(ResponseHeaders, hsts=server_tls.hsts_header(settings))
    # Outside even that: the request's id is bound before anything runs (and
    # is on every answer), and its duration and status are the client's.
    app.add_middleware(Telemetry, trusted_proxies=settings.trusted_proxies)
    install_handlers(app)
    app.add_exception_handler(BlobCorrupt, unreadable_blob)
    install_openapi(app)
    for router in (
        # First: the router tries routes in order, and views are most requests.
        delivery_lean,
        delivery_router,
        # After delivery_router: /images/{id}/metadata must win over /images/{id}/{file}.
        derivatives_router,
        auth_router,
        account_router,
        sessions_router,
        mfa_router,
        accounts_router,
        deletion_router,
        exports_router,
        orgs_router,
        uploads_router,
        tus_router,
        images_router,
        reports_router,
        lifecycle_router,
        moderation_router,
        admin_takedowns_router,
        admin_suspensions_router,
        quotas_router,
        hotlink_router,
        notifications_router,
        analytics_router,
        search_router,
        collaborators_router,
        links_router,
        albums_router,
        admin_users_router,
        admin_status_router,
        admin_reports_router,
        admin_images_router,
        audit_router,
        web_router,
        ops_router,
    ):
        # The routers' routes themselves rather than an inclusion: FastAPI builds
        # an included router's routes again for each app, on its first request
        # (~0.3 s of a core, for every app a test or a worker process builds).
        # The routers carry no prefix, dependencies or lifespan of their own.
        # The route objects are shared by every app of the process, so
        # ``app.dependency_overrides`` does not reach them: the app takes what
        # differs between apps (settings, context) from ``app.state`` instead.
        app.router.routes.extend(router.routes)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app
