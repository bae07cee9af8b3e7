"""The queue's cursor and order, the report settings, and an image's history."""

from __future__ import annotations

import datetime as dt

import pytest

from imghost.admin.image_detail import history
from imghost.checks import check_settings
from imghost.errors import AppError
from imghost.images.policy import check_bytes
from imghost.reports.queue import decode_cursor, encode_cursor
from imghost.reports.schemas import REASONS, SEVERITY, ReportOut
from imghost.settings import Settings, SettingsError

T0 = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)


def test_severity_orders_every_reason() -> None:
    assert set(REASONS) == {"copyright", "abuse", "illegal", "spam", "other"}
    assert sorted(REASONS, key=SEVERITY.__getitem__, reverse=True) == [
        "illegal",
        "abuse",
        "copyright",
        "other",
        "spam",
    ]
    assert len(set(SEVERITY.values())) == len(SEVERITY)


def test_queue_cursors_round_trip_and_refuse_garbage() -> None:
    at = T0.replace(microsecond=123456)
    assert decode_cursor(encode_cursor(5, 3, at, "img_a")) == (5, 3, at, "img_a")
    for bad in ("", "bm9wZQ", "W10", "WyJhIiwgMSwgIjIwMjYtMTItMDciLCAieCJd", "%%%"):
        with pytest.raises(AppError) as caught:
            decode_cursor(bad)
        assert caught.value.code == "invalid_cursor"


def test_the_report_limit_setting_is_checked() -> None:
    assert check_settings(Settings(report_rate_limit="off")).report_rate_limit == "off"
    for bad in ("many", "0/hour", "5/fortnight"):
        with pytest.raises(SettingsError, match="IMGHOST_REPORT_RATE_LIMIT"):
            check_settings(Settings(report_rate_limit=bad))


def test_quarantined_bytes_go_to_admins_only() -> None:
    check_bytes("ready")
    check_bytes("quarantined", admin=True)
    with pytest.raises(AppError) as caught:
        check_bytes("quarantined")
    assert caught.value.status == 403 and caught.value.code == "quarantined"


def _report(report_id: str, minutes: int, **fields: object) -> ReportOut:
    base: dict[str, object] = {
        "report_id": report_id,
        "image_id": "img_a",
        "reporter_id": None,
        "reason": "spam",
        "details": None,
        "status": "open",
        "assignee_id": None,
        "assigned_by": None,
        "assigned_at": None,
        "resolution": None,
        "closed_by": None,
        "closed_at": None,
        "note": None,
        "created_at": T0 + dt.timedelta(minutes=minutes),
        "updated_at": T0 + dt.timedelta(minutes=minutes),
    }
    return ReportOut.model_validate({**base, **fields})


def test_history_is_chronological_and_one_event_per_decision() -> None:
    closed = {
        "status": "dismissed",
        "resolution": "dismiss",
        "closed_by": "u_admin",
        "closed_at": T0 + dt.timedelta(minutes=30),
        "note": "fine",
    }
    reports = [
        _report("rpt_2", 20, reporter_id="u_r", **closed),
        _report("rpt_1", 10, **closed),
        _report("rpt_0", 40),  # filed after the decision, still open
    ]
    events = history(
        owner_id="u_owner",
        created_at=T0,
        deleted_at=T0 + dt.timedelta(minutes=50),
        reports=reports,
    )
    assert [(e.kind, e.actor) for e in events] == [
        ("image.uploaded", "u_owner"),
        ("report.filed", None),
        ("report.filed", "u_r"),
        ("report.dismissed", "u_admin"),
        ("report.filed", None),
        ("image.deleted", None),
    ]
    assert events[3].details == {
        "reportIds": ["rpt_2", "rpt_1"],
        "resolution": "dismiss",
        "note": "fine",
    }
