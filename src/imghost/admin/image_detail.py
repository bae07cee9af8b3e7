"""The shapes of `/v1/admin/images` answers, and an image's history.

History is a list of ``{at, kind, actor, details}``, oldest first. Today it is
made from the image row (uploaded, deleted) and its reports (filed, assigned,
resolved, dismissed); the audit log adds its events to the same list. A
decision taken on many reports at once is one event naming them all.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from imghost.images.schemas import ImageOut
from imghost.reports.schemas import ReportOut
from imghost.schemas import ApiModel, Timestamp


class ScanOut(ApiModel):
    """The content scan's verdict: ``pending``, ``passed`` or ``refused``; its
    reason when refused; the malware signature that matched, when a malware
    scanner named one; the operator's hash list that matched (``sha256`` or
    ``pdq``); the original's PDQ hash (null until computed), to look up in
    shared lists or match against a new entry by hand."""

    status: str
    reason: str | None
    signature: str | None
    hash_list: str | None = None
    pdq: str | None = None
    pdq_quality: int | None = None


class OwnerOut(ApiModel):
    user_id: str
    username: str
    email: str
    plan: str
    is_admin: bool
    deleted_at: Timestamp | None


class HistoryEvent(ApiModel):
    at: Timestamp
    kind: str
    actor: str | None  # a user id; null: anonymous, the system, or the CLI
    details: dict[str, Any]


class AdminImageSummary(ApiModel):
    image_id: str
    owner_id: str
    title: str | None
    status: str
    visibility: str
    scan_status: str
    sha256: str
    size: int
    format: str
    created_at: Timestamp
    deleted_at: Timestamp | None
    active_reports: int


class AdminImageList(ApiModel):
    images: list[AdminImageSummary]
    next_cursor: str | None


class AdminImageOut(ImageOut):
    """Any image, as an admin sees it: deleted or quarantined ones too."""

    deleted_at: Timestamp | None
    sha256: str
    filename: str | None
    scan: ScanOut
    owner: OwnerOut
    reports: list[ReportOut]  # newest first, at most 100
    history: list[HistoryEvent]


class AuditedEvent(Protocol):
    """What the history shows of an audit event (``audit.services.history``)."""

    @property
    def at(self) -> dt.datetime: ...
    @property
    def kind(self) -> str: ...
    @property
    def actor_id(self) -> str | None: ...
    @property
    def details(self) -> Mapping[str, Any] | None: ...


def history(
    *,
    owner_id: str,
    created_at: dt.datetime,
    deleted_at: dt.datetime | None,
    reports: list[ReportOut],
    audited: Sequence[AuditedEvent] = (),
) -> list[HistoryEvent]:
    """What happened to the image, oldest first: its upload and deletion, its
    reports and their decisions, and the audit log's events about it (a
    decision on reports is shown once, from the reports)."""
    events = [HistoryEvent(at=created_at, kind="image.uploaded", actor=owner_id, details={})]
    events += [
        HistoryEvent(at=e.at, kind=e.kind, actor=e.actor_id, details=dict(e.details or {}))
        for e in audited
        if not e.kind.startswith("admin.report_")
    ]
    if deleted_at is not None:
        events.append(HistoryEvent(at=deleted_at, kind="image.deleted", actor=None, details={}))
    # (kind, at, actor, what) → the reports one decision acted on
    decisions: dict[tuple[str, dt.datetime, str | None, str], list[str]] = {}
    for report in reports:
        events.append(
            HistoryEvent(
                at=report.created_at,
                kind="report.filed",
                actor=report.reporter_id,
                details={"reportId": report.report_id, "reason": report.reason},
            )
        )
        if report.assigned_at is not None:
            key = (
                "report.assigned",
                report.assigned_at,
                report.assigned_by,
                report.assignee_id or "",
            )
            decisions.setdefault(key, []).append(report.report_id)
        if report.closed_at is not None:
            kind = "report.dismissed" if report.status == "dismissed" else "report.resolved"
            what = json.dumps([report.resolution, report.note])
            decisions.setdefault((kind, report.closed_at, report.closed_by, what), []).append(
                report.report_id
            )
    for (kind, at, actor, what), ids in decisions.items():
        if kind == "report.assigned":
            details: dict[str, Any] = {"reportIds": ids, "assigneeId": what or None}
        else:
            resolution, note = json.loads(what)
            details = {"reportIds": ids, "resolution": resolution, "note": note}
        events.append(HistoryEvent(at=at, kind=kind, actor=actor, details=details))
    events.sort(key=lambda e: e.at)
    return events
