"""Timestamps in answers: one format, and every response model uses it."""

from __future__ import annotations

import datetime as dt
import re
import types
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from pydantic import BaseModel, PlainSerializer

import imghost.app  # noqa: F401  (imports every router, so every model exists)
from imghost.schemas import ApiModel, Timestamp, format_timestamp

# The format docs/API.md promises: RFC 3339, UTC, milliseconds, Z.
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (dt.datetime(2026, 12, 7, 8, 25, 42, 123456, dt.UTC), "2026-12-07T08:25:42.123Z"),
        # Whole seconds keep their three digits: every timestamp has one length.
        (dt.datetime(2026, 12, 7, 8, 25, 42, tzinfo=dt.UTC), "2026-12-07T08:25:42.000Z"),
        # Truncated, never rounded up into the next second.
        (dt.datetime(2026, 12, 31, 23, 59, 59, 999999, dt.UTC), "2026-12-31T23:59:59.999Z"),
        # Another zone is converted; a naive value (SQLite) is UTC.
        (
            dt.datetime(2026, 12, 7, 10, 25, 42, 5000, dt.timezone(dt.timedelta(hours=2))),
            "2026-12-07T08:25:42.005Z",
        ),
        (dt.datetime(2026, 12, 7, 8, 25, 42, 5000), "2026-12-07T08:25:42.005Z"),
        (dt.datetime(1, 1, 1, tzinfo=dt.UTC), "0001-01-01T00:00:00.000Z"),
    ],
)
def test_format_timestamp(moment: dt.datetime, text: str) -> None:
    assert format_timestamp(moment) == text
    assert TIMESTAMP.match(text)


class _Example(ApiModel):
    created_at: Timestamp
    seen_at: Timestamp | None = None


def test_models_write_timestamps_in_json_only() -> None:
    moment = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, dt.UTC)
    example = _Example(created_at=moment)
    assert example.model_dump(mode="json", by_alias=True) == {
        "createdAt": "2026-01-02T03:04:05.678Z",
        "seenAt": None,
    }
    assert example.model_dump_json(by_alias=True) == (
        '{"createdAt":"2026-01-02T03:04:05.678Z","seenAt":null}'
    )
    # Python dumps keep the datetime; input is parsed as any datetime.
    assert example.model_dump()["created_at"] == moment
    assert _Example.model_validate({"createdAt": "2026-01-02T03:04:05+01:00"}).created_at == (
        dt.datetime(2026, 1, 2, 2, 4, 5, tzinfo=dt.UTC)
    )
    # The documented schema is unchanged: a date-time string.
    schema = _Example.model_json_schema(mode="serialization")["properties"]["createdAt"]
    assert (schema["type"], schema["format"]) == ("string", "date-time")


def _formatted(metadata: list[Any] | tuple[Any, ...]) -> bool:
    return any(isinstance(m, PlainSerializer) and m.func is format_timestamp for m in metadata)


def _bare_datetimes(annotation: Any, metadata: list[Any] | tuple[Any, ...] = ()) -> bool:
    """True when ``annotation`` holds a datetime that is not a :data:`Timestamp`."""
    if annotation is dt.datetime:
        return not _formatted(metadata)
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *extra = get_args(annotation)
        return _bare_datetimes(inner, [*metadata, *extra])
    if origin in (Union, types.UnionType, list, dict, tuple, set):
        return any(_bare_datetimes(arg) for arg in get_args(annotation))
    return False


def _models(base: type[BaseModel]) -> list[type[BaseModel]]:
    found = []
    for sub in base.__subclasses__():
        found += [sub, *_models(sub)]
    return found


def test_every_response_model_writes_timestamps_one_way() -> None:
    models = [m for m in _models(ApiModel) if m.__module__.startswith("imghost.")]
    assert len(models) > 30  # the walk found the app's models
    bare = [
        f"{model.__module__}.{model.__name__}.{name}"
        for model in models
        for name, field in model.model_fields.items()
        if _bare_datetimes(field.annotation, field.metadata)
    ]
    assert bare == [], "use imghost.schemas.Timestamp, not datetime, in these fields"


def test_the_check_sees_a_bare_datetime() -> None:
    class Bare(ApiModel):
        at: dt.datetime
        maybe: list[dt.datetime | None]

    assert _bare_datetimes(Bare.model_fields["at"].annotation, Bare.model_fields["at"].metadata)
    assert _bare_datetimes(Bare.model_fields["maybe"].annotation)
    ok = _Example.model_fields
    assert not _bare_datetimes(ok["created_at"].annotation, ok["created_at"].metadata)
    assert not _bare_datetimes(ok["seen_at"].annotation, ok["seen_at"].metadata)
