"""The admin queue: a status's reports grouped by image, most urgent image first.

Order (docs/API.md, "Abuse reports"): the most severe reason among the image's
reports (``schemas.SEVERITY``), then how many reports it has (several reports
of one image raise its place), then its oldest report (waiting longest first),
then the image id. Paged by keyset cursors over those four values, compared
in ``HAVING``: the groups are computed by one ``GROUP BY`` over the status's
reports (index ``ix_abuse_reports_status_image``), never loaded whole.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.errors import AppError
from imghost.reports.models import AbuseReport
from imghost.reports.schemas import SEVERITY

# Reports shown with each image (its newest); reportCount says how many there are.
REPORTS_PER_IMAGE = 20


@dataclass(frozen=True)
class QueueGroup:
    image_id: str
    severity: int
    count: int
    oldest_at: dt.datetime
    newest_at: dt.datetime
    top_reason: str
    assignee_id: str | None
    reports: list[AbuseReport]


@dataclass(frozen=True)
class QueuePage:
    groups: list[QueueGroup]
    next_cursor: str | None


_REASON_OF = {level: reason for reason, level in SEVERITY.items()}


def _severity() -> ColumnElement[int]:
    return case(*((AbuseReport.reason == r, s) for r, s in SEVERITY.items()), else_=0)


def encode_cursor(severity: int, count: int, oldest: dt.datetime, image_id: str) -> str:
    raw = json.dumps([severity, count, oldest.isoformat(), image_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int, dt.datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        severity, count, oldest, image_id = json.loads(raw)
        at = dt.datetime.fromisoformat(oldest)
        if (
            at.tzinfo is None
            or not isinstance(image_id, str)
            or not isinstance(severity, int)
            or not isinstance(count, int)
        ):
            raise ValueError
    except (ValueError, TypeError):
        raise AppError(
            400, "invalid_cursor", "This cursor is malformed; start again without it."
        ) from None
    return severity, count, at, image_id


async def list_queue(
    session: AsyncSession, *, status: str, limit: int, cursor: str | None
) -> QueuePage:
    severity = func.max(_severity())
    count = func.count(AbuseReport.id)
    oldest = func.min(AbuseReport.created_at)
    query = (
        select(
            AbuseReport.image_id,
            severity.label("severity"),
            count.label("n"),
            oldest.label("oldest"),
            func.max(AbuseReport.created_at).label("newest"),
            func.max(AbuseReport.assignee_id).label("assignee"),
        )
        .where(AbuseReport.status == status)
        .group_by(AbuseReport.image_id)
    )
    if cursor is not None:
        c_sev, c_count, c_oldest, c_id = decode_cursor(cursor)
        # Strictly after the cursor's group in (severity desc, count desc, oldest, id).
        query = query.having(
            or_(
                severity < c_sev,
                and_(severity == c_sev, count < c_count),
                and_(severity == c_sev, count == c_count, oldest > c_oldest),
                and_(
                    severity == c_sev,
                    count == c_count,
                    oldest == c_oldest,
                    AbuseReport.image_id > c_id,
                ),
            )
        )
    query = query.order_by(
        severity.desc(), count.desc(), oldest.asc(), AbuseReport.image_id.asc()
    ).limit(limit + 1)
    rows = (await session.execute(query)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    reports = await _newest_reports(session, status, [r.image_id for r in rows])
    groups = [
        QueueGroup(
            image_id=r.image_id,
            severity=int(r.severity),
            count=int(r.n),
            oldest_at=r.oldest,
            newest_at=r.newest,
            top_reason=_REASON_OF.get(int(r.severity), "other"),
            assignee_id=r.assignee,
            reports=reports.get(r.image_id, []),
        )
        for r in rows
    ]
    last = groups[-1] if more and groups else None
    following = (
        encode_cursor(last.severity, last.count, last.oldest_at, last.image_id) if last else None
    )
    return QueuePage(groups, following)


async def _newest_reports(
    session: AsyncSession, status: str, image_ids: list[str]
) -> dict[str, list[AbuseReport]]:
    """Each image's newest reports of ``status``, at most REPORTS_PER_IMAGE,
    in one statement (a window function numbers each image's reports)."""
    if not image_ids:
        return {}
    place = (
        func.row_number()
        .over(
            partition_by=AbuseReport.image_id,
            order_by=(AbuseReport.created_at.desc(), AbuseReport.id.desc()),
        )
        .label("place")
    )
    numbered = (
        select(AbuseReport.id, place)
        .where(AbuseReport.status == status, AbuseReport.image_id.in_(image_ids))
        .subquery()
    )
    rows = await session.scalars(
        select(AbuseReport)
        .join(numbered, numbered.c.id == AbuseReport.id)
        .where(numbered.c.place <= REPORTS_PER_IMAGE)
        .order_by(AbuseReport.image_id, AbuseReport.created_at.desc(), AbuseReport.id.desc())
    )
    found: dict[str, list[AbuseReport]] = {}
    for report in rows:
        found.setdefault(report.image_id, []).append(report)
    return found
