"""What may leave for whom: hotlink protection and monthly bandwidth budgets,
decided on the delivery path without a database read.

Each API process keeps in memory the accounts whose monthly budget is used
up (``quotas.services.over_budget``) and the allow-lists that are on
(``hotlink.services``), and reloads them at most every
``IMGHOST_EGRESS_REFRESH`` seconds: the request that finds its copy older
starts a reload in the background and is decided on the copy it has, so a
request never waits for the database here (except the process's very first,
which waits for the first load). Allow-lists are read incrementally (rows
written since the newest one seen, less an overlap for transactions that
committed late) with a full reload every few minutes; the over-budget set is
one indexed read of this month's counters over the smallest budget.

The owner of an image (its uploader) and site admins are never refused:
the owner still gets their images when the budget is used up.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imghost.db import utcnow
from imghost.errors import AppError
from imghost.hotlink import services as hotlink
from imghost.images.services import DeliveryFacts
from imghost.quotas import services as quotas
from imghost.schemas import format_timestamp
from imghost.settings import Settings

log = logging.getLogger(__name__)

# Rows re-read before the newest change seen: a transaction that stamped its
# row earlier but committed after the last reload is still picked up.
OVERLAP = dt.timedelta(seconds=60)
# Seconds between full reloads of the allow-lists (drops lists deleted with
# their account, which an incremental read cannot see).
FULL_RELOAD = 300.0
# The answers for an image its owner protects depend on the Referer, which a
# shared cache keyed by URL would hand to other sites: only browsers may keep them.
NO_STORE = {"Cache-Control": "private, no-store"}


def bandwidth_exceeded(now: dt.datetime) -> AppError:
    resets = quotas.resets_at(quotas.month_of(now.date()))
    return AppError(
        429,
        "bandwidth_exceeded",
        "The owner of this image has used up this month's transfer allowance; their "
        f"images are available again when it resets on {resets:%Y-%m-%d %H:%M} UTC.",
        headers={**NO_STORE, "Retry-After": str(max(1, int((resets - now).total_seconds())))},
        resetsAt=format_timestamp(resets),
    )


def hotlink_denied(host: str) -> AppError:
    return AppError(
        403,
        "hotlink_denied",
        f"The owner of this image does not allow it to be embedded on {host}. Open the "
        "image's link directly instead.",
        headers=NO_STORE,
    )


class EgressGate:
    """One per API process (``AppContext.egress``)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self._sessions = sessions
        self._settings = settings
        self._own = urlsplit(settings.public_base_url).hostname or ""
        self._over: frozenset[str] = frozenset()
        self._lists: dict[str, hotlink.AllowList] = {}
        self._since: dt.datetime | None = None  # the newest list change seen
        self._full_at = 0.0
        self._loaded_at: float | None = None
        self._first: asyncio.Lock | None = None
        self._task: asyncio.Task[None] | None = None

    async def admit(self, request: Request, item: DeliveryFacts, exempt: bool) -> bool:
        """Raise 403 ``hotlink_denied`` or 429 ``bandwidth_exceeded`` unless the
        caller may have the image's bytes; ``exempt``: the owner or an admin.
        False when the answer depends on the Referer (a shared cache must not
        keep it), else True."""
        if exempt:
            return True
        if self._loaded_at is None:
            await self._first_load()
        elif time.monotonic() - self._loaded_at >= self._settings.egress_refresh:
            self._reload_in_background()
        account = item.org_id or item.owner_id
        allowed = self._lists.get(account)
        if allowed is not None:
            host = hotlink.referer_host(request.headers.get("referer"))
            if host is not None and not allowed.allows(host) and not self._own_host(host, request):
                raise hotlink_denied(host)
        if account in self._over:
            raise bandwidth_exceeded(utcnow())
        return allowed is None

    def _own_host(self, host: str, request: Request) -> bool:
        """The service's own pages embed its images: its public host, and the
        host the request was sent to (a browser's Referer for a page of ours)."""
        return host in (self._own, request.url.hostname or "")

    async def _first_load(self) -> None:
        if self._first is None:
            self._first = asyncio.Lock()
        async with self._first:  # one first load; the requests that came meanwhile wait
            if self._loaded_at is None:
                await self.reload()

    def _reload_in_background(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.reload(), name="egress-reload")

    async def reload(self) -> None:
        """Read the over-budget accounts and the changed allow-lists; on a
        failure keep the copy held and try again after the interval."""
        started = time.monotonic()
        full = self._since is None or started - self._full_at >= FULL_RELOAD
        try:
            async with self._sessions() as session:
                over = await quotas.over_budget(session, self._settings)
                since = None if full or self._since is None else self._since - OVERLAP
                changed = await hotlink.changed_since(session, since)
        except Exception:
            log.exception("egress: reloading allow-lists and budgets failed; keeping the last")
            self._loaded_at = started
            return
        lists = {} if full else dict(self._lists)
        for listed in changed:
            if listed.hosts:
                lists[listed.account_id] = hotlink.AllowList.of(listed.hosts)
            else:
                lists.pop(listed.account_id, None)
            if listed.updated_at is not None:
                self._since = max(self._since or listed.updated_at, listed.updated_at)
        self._over, self._lists = frozenset(over), lists
        if full:
            self._full_at = started
        self._loaded_at = started

    async def settled(self) -> None:
        """Wait for the background reload in flight, if any (tests, tools)."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def gate_of(request: Request) -> EgressGate:
    # The process's gate, assembled by the composition root with the context.
    ctx: Any = request.app.state.ctx
    gate: EgressGate = ctx.egress
    return gate


async def admit(request: Request, item: DeliveryFacts, *, exempt: bool) -> bool:
    """``EgressGate.admit`` of the request's process: the one call delivery makes."""
    return await gate_of(request).admit(request, item, exempt)
