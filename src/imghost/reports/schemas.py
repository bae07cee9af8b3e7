"""Request and answer shapes of abuse reports (the public POST and the admin queue)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from imghost.reports.models import AbuseReport
from imghost.schemas import ApiModel, StrictInput, Timestamp

Reason = Literal["copyright", "abuse", "illegal", "spam", "other"]
# How much one report weighs in the queue: the most severe reason of an image's
# reports orders it first (docs/API.md, "Abuse reports"). Illegal content (child
# abuse material, threats) cannot wait; abuse (harassment, intimate images) harms
# a person now; copyright has legal deadlines; "other" may be anything; spam is a
# nuisance.
SEVERITY: dict[str, int] = {"illegal": 5, "abuse": 4, "copyright": 3, "other": 2, "spam": 1}
REASONS: tuple[str, ...] = tuple(SEVERITY)
Status = Literal["open", "assigned", "resolved", "dismissed"]
# Waiting for a decision: a repeat report updates it; assign, resolve and dismiss act on it.
ACTIVE: tuple[str, ...] = ("open", "assigned")
# What resolving a report may do to the image. Takedowns (451) join when
# their service exists: add "takedown" here and in ``reports.resolutions``.
Resolution = Literal["quarantine", "takedown"]

MAX_DETAILS = 2000
MAX_NOTE = 2000
Details = Annotated[str | None, Field(default=None, max_length=MAX_DETAILS)]
Note = Annotated[str | None, Field(default=None, max_length=MAX_NOTE)]


class ReportIn(StrictInput):
    reason: Reason
    details: Details = None


class ReportAck(ApiModel):
    """The reporter's acknowledgement: the report's id and where it stands."""

    report_id: str
    status: Status


class ReportOut(ApiModel):
    report_id: str
    image_id: str
    reporter_id: str | None
    reason: Reason
    details: str | None
    status: Status
    assignee_id: str | None
    assigned_by: str | None
    assigned_at: Timestamp | None
    resolution: str | None
    closed_by: str | None
    closed_at: Timestamp | None
    note: str | None
    created_at: Timestamp
    updated_at: Timestamp


class AssignIn(StrictInput):
    # Default: the admin who asks.
    admin_id: Annotated[str | None, Field(default=None, max_length=64)] = None


class ResolveIn(StrictInput):
    action: Resolution
    note: Note = None


class DismissIn(StrictInput):
    note: Note = None


def report_out(report: AbuseReport) -> ReportOut:
    return ReportOut(
        report_id=report.id,
        image_id=report.image_id,
        reporter_id=report.reporter_id,
        reason=report.reason,
        details=report.details,
        status=report.status,
        assignee_id=report.assignee_id,
        assigned_by=report.assigned_by,
        assigned_at=report.assigned_at,
        resolution=report.resolution,
        closed_by=report.closed_by,
        closed_at=report.closed_at,
        note=report.note,
        created_at=report.created_at,
        updated_at=report.updated_at,
    )


class ImageBrief(ApiModel):
    """The reported image as the queue shows it (admins see any status)."""

    image_id: str
    owner_id: str
    title: str | None
    status: str
    visibility: str
    deleted_at: Timestamp | None


class QueueItemOut(ApiModel):
    """One image in the queue, with its reports of the status asked for."""

    image_id: str
    image: ImageBrief | None  # null: the image was purged meanwhile
    report_count: int
    top_reason: Reason
    oldest_at: Timestamp
    newest_at: Timestamp
    assignee_id: str | None
    reports: list[ReportOut]  # the newest 20


class QueueOut(ApiModel):
    items: list[QueueItemOut]
    next_cursor: str | None


class DecisionOut(ApiModel):
    """What an assign, resolve or dismiss changed: every report of the image it
    acted on, and the image's status after it."""

    image_id: str
    status: Status
    resolution: str | None
    image_status: str | None
    reports: list[ReportOut]
