"""Walking the chain: ``imghost audit verify``.

From the oldest event kept (anchored on its stored previous hash: the rows
before it were deleted by retention) to the newest, a page of rows at a time
(memory stays at one page whatever the table's size). Each row must follow its
predecessor (id one more, ``prev_hash`` its hash), hash to its stored
``hash``, and, while its address and user agent are kept, match their stored
digests. At the end the head must name the last row. The first row that
fails is reported; everything after it is unverified.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imghost.audit import chain
from imghost.audit.models import AuditEvent, AuditHead

PAGE = 1000


@dataclass(frozen=True)
class Report:
    checked: int
    first_id: int | None
    last_id: int | None
    broken_id: int | None = None  # the first row that fails (or None: the head)
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _fields(row: AuditEvent) -> chain.Fields:
    return chain.Fields(
        id=row.id,
        at=row.at,
        kind=row.kind,
        actor_id=row.actor_id,
        actor_kind=row.actor_kind,
        address_digest=row.address_digest,
        user_agent_digest=row.user_agent_digest,
        target_type=row.target_type,
        target_id=row.target_id,
        details=row.details,
    )


def check_row(row: AuditEvent, prev_id: int | None, prev_hash: str | None, key: str) -> str | None:
    """What is wrong with ``row`` after (prev_id, prev_hash); None when nothing."""
    if prev_id is not None and row.id != prev_id + 1:
        return f"rows {prev_id + 1}..{row.id - 1} are missing"
    if prev_hash is not None and row.prev_hash != prev_hash:
        return "its previous hash is not the hash of the row before it"
    if chain.link(row.prev_hash, _fields(row)) != row.hash:
        return "its contents do not match its hash"
    if row.address is not None and chain.digest(key, row.address) != row.address_digest:
        return "its address does not match its digest"
    if row.user_agent is not None and chain.digest(key, row.user_agent) != row.user_agent_digest:
        return "its user agent does not match its digest"
    return None


def parse_expected(text: str) -> tuple[int, str]:
    """``ID HASH`` or ``ID:HASH`` (what ``imghost audit head`` printed) as a pair."""
    ident, _, digest = text.strip().replace(":", " ").partition(" ")
    digest = digest.strip().lower()
    if not ident.isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"{text!r} is not ID HASH as `imghost audit head` prints it")
    return int(ident), digest


async def verify(
    sessions: async_sessionmaker[AsyncSession],
    page: int = PAGE,
    expected: tuple[int, str] | None = None,
) -> Report:
    """Walk the chain; ``expected``: a head copied earlier (id, hash), which the
    chain must still contain (unless retention deleted that event)."""
    async with sessions() as session:
        head = await session.get(AuditHead, 1)
    if head is None:
        return Report(0, None, None, None, "the chain's head row is missing")
    if expected is not None and expected[0] > head.seq:
        return Report(
            0, None, None, None, f"the head is at event {head.seq}, before the copy's {expected[0]}"
        )
    checked, first, prev_id, prev_hash = 0, None, None, None
    while True:
        # A short read per page: no transaction is held open for the whole walk.
        async with sessions() as session:
            query = select(AuditEvent).order_by(AuditEvent.id).limit(page)
            if prev_id is not None:
                query = query.where(AuditEvent.id > prev_id)
            rows = list(await session.scalars(query))
        for row in rows:
            if row.id > head.seq:
                break  # written after the head was read: the next run checks it
            problem = check_row(row, prev_id, prev_hash, head.pii_key)
            copied = expected is not None and row.id == expected[0]
            if problem is None and copied and expected is not None and row.hash != expected[1]:
                problem = "its hash is not the one the copy of the head recorded"
            if problem is not None:
                return Report(checked, first, prev_id, row.id, problem)
            first = row.id if first is None else first
            checked, prev_id, prev_hash = checked + 1, row.id, row.hash
        if len(rows) < page or (prev_id is not None and prev_id >= head.seq):
            break
    if prev_id is None:
        if head.seq == 0 or checked == 0:
            return Report(0, None, None)  # nothing written, or all of it expired
    elif prev_id != head.seq or prev_hash != head.hash:
        return Report(
            checked,
            first,
            prev_id,
            None,
            f"the head names event {head.seq} ({head.hash[:12]}…) but the chain ends at "
            f"event {prev_id} ({(prev_hash or '')[:12]}…): rows at the end were removed",
        )
    return Report(checked, first, prev_id)
