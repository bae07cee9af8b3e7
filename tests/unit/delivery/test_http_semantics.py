from __future__ import annotations

import datetime as dt

import pytest

from imghost.delivery.http import (
    ByteRange,
    Unsatisfiable,
    http_date,
    not_modified,
    parse_range,
    range_applies,
)

WHEN = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)
ETAG = '"abc"'


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("bytes=0-0", ByteRange(0, 1)),
        ("bytes=0-99", ByteRange(0, 100)),
        ("bytes=90-", ByteRange(90, 100)),
        ("bytes=-10", ByteRange(90, 100)),
        ("bytes=-1000", ByteRange(0, 100)),
        ("bytes=50-5000", ByteRange(50, 100)),
        ("BYTES = 1-2", ByteRange(1, 3)),
        ("bytes=5-1", None),
        ("bytes=a-b", None),
        ("bytes=1-2,4-5", None),
        ("pages=1-2", None),
        ("bytes=", None),
        ("bytes=-", None),
    ],
)
def test_parse_range(header: str | None, expected: ByteRange | None) -> None:
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=150-200", "bytes=-0"])
def test_unsatisfiable(header: str) -> None:
    with pytest.raises(Unsatisfiable):
        parse_range(header, 100)


def test_empty_file_ranges() -> None:
    with pytest.raises(Unsatisfiable):
        parse_range("bytes=0-", 0)


def test_not_modified() -> None:
    assert not_modified(ETAG, WHEN, ETAG, None)
    assert not_modified(ETAG, WHEN, f'W/{ETAG}, "x"', None)
    assert not_modified(ETAG, WHEN, "*", None)
    assert not not_modified(ETAG, WHEN, '"x"', None)
    assert not_modified(ETAG, WHEN, None, http_date(WHEN))
    later = http_date(WHEN + dt.timedelta(days=1))
    earlier = http_date(WHEN - dt.timedelta(seconds=1))
    assert not_modified(ETAG, WHEN, None, later)
    assert not not_modified(ETAG, WHEN, None, earlier)
    assert not not_modified(ETAG, WHEN, None, "not a date")
    assert not not_modified(ETAG, WHEN, '"x"', later)  # the ETag decides


def test_if_range() -> None:
    assert range_applies(ETAG, WHEN, None)
    assert range_applies(ETAG, WHEN, ETAG)
    assert not range_applies(ETAG, WHEN, f"W/{ETAG}")  # weak validators never match
    assert not range_applies(ETAG, WHEN, '"other"')
    assert range_applies(ETAG, WHEN, http_date(WHEN))
    assert not range_applies(ETAG, WHEN, http_date(WHEN - dt.timedelta(days=1)))


def test_content_range() -> None:
    assert ByteRange(0, 10).content_range(50) == "bytes 0-9/50"
