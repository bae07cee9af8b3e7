"""The chain: concurrent writers never fork it, `imghost audit verify` names
the first tampered row, and scrubbing and retention leave it verifiable."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools

import httpx
from sqlalchemy import delete, func, select, text, update

from imghost.audit import chain, tasks
from imghost.audit import services as audit
from imghost.audit import verify as verify_module
from imghost.audit.models import AuditEvent, AuditHead
from imghost.context import AppContext
from imghost.settings import Settings
from tests.conftest import LiveServer
from tests.factories import make_user
from tests.helpers.context import with_ctx
from tests.helpers.db import fetch, run_sql
from tests.integration.audit.helpers import run_cli

WRITERS = 40


def _write_many(settings: Settings, count: int) -> list[int]:
    """``count`` events written at once, each in a transaction of its own that
    also holds its lock on the head for a moment (a slow caller)."""

    async def work(ctx: AppContext) -> list[int]:
        async def one(n: int) -> int:
            async with ctx.sessions() as session:
                where = audit.Origin(address=f"10.0.0.{n % 250}", user_agent=f"writer/{n}")
                event = await audit.record(
                    session, "test.concurrent", details={"n": n}, origin=where
                )
                await asyncio.sleep(0)  # let the others queue on the head
                await session.commit()
                return event

        return list(await asyncio.gather(*(one(n) for n in range(count))))

    return with_ctx(settings, work)


def _verify(settings: Settings) -> tuple[bool, str]:
    result = run_cli(settings, "audit", "verify")
    return result.exit_code == 0, result.output


def test_concurrent_writers_do_not_fork_the_chain(live: LiveServer) -> None:
    settings = live.settings
    ids = _write_many(settings, WRITERS)
    assert sorted(ids) == list(range(1, WRITERS + 1))
    rows = fetch(
        settings,
        select(AuditEvent.id, AuditEvent.prev_hash, AuditEvent.hash).order_by(AuditEvent.id),
    )
    assert [r.id for r in rows] == list(range(1, WRITERS + 1))
    # each row chains onto the one before it: no two rows share a previous hash
    assert len({r.prev_hash for r in rows}) == WRITERS
    for before, after in itertools.pairwise(rows):
        assert after.prev_hash == before.hash
    head = fetch(settings, select(AuditHead.seq, AuditHead.hash))[0]
    assert (head.seq, head.hash) == (rows[-1].id, rows[-1].hash)
    ok, output = _verify(settings)
    assert ok, output
    assert f"{WRITERS} verified" in output


def test_a_rolled_back_write_leaves_no_gap(live: LiveServer) -> None:
    settings = live.settings

    async def work(ctx: AppContext) -> int:
        async with ctx.sessions() as session:
            await audit.record(session, "test.rolled_back")
            await session.rollback()
        async with ctx.sessions() as session:
            kept = await audit.record(session, "test.kept")
            await session.commit()
            return kept

    assert with_ctx(settings, work) == 1
    assert _verify(settings)[0]


def test_tampering_is_found_and_named(client: httpx.Client, live: LiveServer) -> None:
    settings = live.settings
    _write_many(settings, 6)
    assert _verify(settings)[0]
    # a changed detail
    run_sql(settings, update(AuditEvent).where(AuditEvent.id == 3).values(details={"n": 99}))
    ok, output = _verify(settings)
    assert not ok
    assert "BROKEN at event 3" in output and "contents do not match its hash" in output
    # a forger who also rehashes the row breaks the link to the next one
    row = fetch(settings, select(AuditEvent).where(AuditEvent.id == 3))[0][0]
    forged = chain.link(row.prev_hash, verify_module._fields(row))
    run_sql(settings, update(AuditEvent).where(AuditEvent.id == 3).values(hash=forged))
    ok, output = _verify(settings)
    assert not ok
    assert "BROKEN at event 4" in output and "previous hash" in output


def test_tampered_address_deleted_row_and_cut_tail(live: LiveServer) -> None:
    settings = live.settings
    _write_many(settings, 6)
    run_sql(settings, update(AuditEvent).where(AuditEvent.id == 2).values(address="192.0.2.1"))
    ok, output = _verify(settings)
    assert not ok and "BROKEN at event 2" in output and "address" in output
    run_sql(settings, update(AuditEvent).where(AuditEvent.id == 2).values(address=None))
    assert _verify(settings)[0]  # a scrubbed address is not a break
    run_sql(settings, delete(AuditEvent).where(AuditEvent.id == 4))
    ok, output = _verify(settings)
    assert not ok and "BROKEN at event 5" in output and "missing" in output
    # rows cut off the end: the head still names the last one written
    run_sql(settings, delete(AuditEvent).where(AuditEvent.id >= 4))
    ok, output = _verify(settings)
    assert not ok and "the head names event 6" in output


def test_scrub_and_retention_keep_the_chain_verifiable(live: LiveServer) -> None:
    settings = live.settings
    _write_many(settings, 10)
    rows = fetch(settings, select(AuditEvent.id, AuditEvent.at).order_by(AuditEvent.id))
    middle = rows[5].at  # events 1..5 are older than this (the clock is monotonic here)

    async def scrub_and_expire(ctx: AppContext) -> tuple[int, int]:
        scrubbed = await tasks.scrub(
            ctx.sessions, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
        )
        deleted = await tasks.expire(ctx.sessions, middle)
        return scrubbed, deleted

    scrubbed, deleted = with_ctx(settings, scrub_and_expire)
    assert scrubbed == 10
    assert deleted == len([r for r in rows if r.at < middle])
    left = fetch(
        settings,
        select(
            AuditEvent.id, AuditEvent.address, AuditEvent.user_agent, AuditEvent.address_digest
        ).order_by(AuditEvent.id),
    )
    assert left[0].id == deleted + 1 and left[-1].id == 10
    assert all(r.address is None and r.user_agent is None and r.address_digest for r in left)
    ok, output = _verify(settings)
    assert ok, output
    assert f"events {deleted + 1}..10" in output
    # and the chain goes on from its head
    _write_many(settings, 2)
    assert "events" in _verify(settings)[1] and _verify(settings)[0]


def test_the_maintenance_step_applies_the_retention_settings(live: LiveServer) -> None:
    settings = live.settings
    _write_many(settings, 4)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    a_while_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    # dates moved behind the chain's back: the walk no longer matches for them,
    # but the sweep must pick the rows by them
    run_sql(settings, update(AuditEvent).where(AuditEvent.id <= 2).values(at=long_ago))
    run_sql(settings, update(AuditEvent).where(AuditEvent.id == 3).values(at=a_while_ago))
    retention = tasks.Retention(days=365, pii_days=30)

    async def sweep(ctx: AppContext) -> tasks.Swept:
        return await tasks.sweep(ctx.sessions, retention)

    swept = with_ctx(settings, sweep)
    assert (swept.scrubbed, swept.deleted) == (1, 2)
    left = fetch(settings, select(AuditEvent.id, AuditEvent.address).order_by(AuditEvent.id))
    assert [(r.id, r.address is None) for r in left] == [(3, True), (4, False)]
    count = fetch(settings, select(func.count()).select_from(AuditEvent))[0][0]
    assert count == 2
    assert fetch(settings, select(text("1")).select_from(AuditHead.__table__))


def test_account_deletion_leaves_the_log_alone(client: httpx.Client, live: LiveServer) -> None:
    """No audit table has a foreign key to users: the account sweep, which
    deletes every row with a cascading key to users, never reaches them."""
    for table in (AuditEvent.__table__, AuditHead.__table__):
        assert not table.foreign_keys
    make_user(client)
    assert _verify(live.settings)[0]


def test_a_rewritten_chain_fails_against_a_copy_of_its_head(live: LiveServer) -> None:
    settings = live.settings
    _write_many(settings, 5)
    head = run_cli(settings, "audit", "head")
    assert head.exit_code == 0, head.output
    copy = head.output.strip()
    assert copy.startswith("5 ")
    result = run_cli(settings, "audit", "verify", "--expect", copy)
    assert result.exit_code == 0, result.output
    # a forger with the database rewrites event 3 and rehashes everything after
    # it, head included: the chain verifies on its own, not against the copy
    rows = fetch(settings, select(AuditEvent).order_by(AuditEvent.id))
    prev = rows[1][0].hash
    changes = []
    for (row,) in rows[2:]:
        if row.id == 3:
            row.details = {"n": 1000}
        row.prev_hash = prev
        row.hash = chain.link(prev, verify_module._fields(row))
        changes.append(
            update(AuditEvent)
            .where(AuditEvent.id == row.id)
            .values(details=row.details, prev_hash=row.prev_hash, hash=row.hash)
        )
        prev = row.hash
    changes.append(update(AuditHead).where(AuditHead.id == 1).values(hash=prev))
    run_sql(settings, *changes)
    assert _verify(settings)[0]
    result = run_cli(settings, "audit", "verify", "--expect", copy)
    assert result.exit_code == 1
    assert "BROKEN at event 5" in result.output and "copy of the head" in result.output
    # a copy from the future, and one that is not a head at all
    future = run_cli(settings, "audit", "verify", "--expect", f"9 {'0' * 64}")
    assert future.exit_code == 1 and "before the copy's 9" in future.output
    assert run_cli(settings, "audit", "verify", "--expect", "latest").exit_code == 2


def test_concurrent_requests_chain_in_order(client: httpx.Client, live: LiveServer) -> None:
    """Audited requests at once, through the API (each event in its request's
    own transaction beside other writes): one unforked chain."""
    from concurrent.futures import ThreadPoolExecutor

    users = [make_user(client) for _ in range(4)]

    def create_keys(n: int) -> None:
        with httpx.Client(base_url=live.url, timeout=60) as own:
            user = users[n % len(users)]
            for i in range(3):
                r = own.post(
                    "/v1/users/me/api-keys", json={"name": f"{n}-{i}"}, headers=user.headers
                )
                assert r.status_code == 201, r.text

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create_keys, range(8)))
    created = fetch(
        live.settings,
        select(func.count()).select_from(AuditEvent).where(AuditEvent.kind == "apikey.created"),
    )
    assert created[0][0] == 24
    ok, output = _verify(live.settings)
    assert ok, output
    assert "28 verified" in output  # and the four sign-ins


def test_the_walk_pages_through_the_chain(live: LiveServer) -> None:
    """The walk reads a page at a time: links across page ends are checked too."""
    settings = live.settings
    _write_many(settings, 10)

    def walk(page: int) -> verify_module.Report:
        async def work(ctx: AppContext) -> verify_module.Report:
            return await verify_module.verify(ctx.sessions, page=page)

        return with_ctx(settings, work)

    for page in (1, 3, 5, 10, 11):
        report = walk(page)
        assert (report.ok, report.checked, report.first_id, report.last_id) == (True, 10, 1, 10)
    # row 7 starts the third page of three: its link to row 6 is checked
    run_sql(settings, delete(AuditEvent).where(AuditEvent.id == 6))
    report = walk(3)
    assert (report.ok, report.broken_id, report.checked) == (False, 7, 5)
