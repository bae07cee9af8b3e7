"""Shared base for request/response models: camelCase on the wire."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
)
from pydantic.alias_generators import to_camel

# Widest first; what each value lets in: ``imghost.access.policy``.
Visibility = Literal["public", "unlisted", "shared", "private"]

# How image listings can be ordered (GET /v1/images, GET /v1/users/{id}/images).
ImageSort = Literal["newest", "oldest", "most_viewed", "relevance"]


def format_timestamp(value: dt.datetime) -> str:
    """The one way a moment is written in an answer: RFC 3339, UTC, milliseconds, ``Z``.

    ``2026-12-07T08:25:42.120Z``: always three fraction digits, so every
    timestamp has the same length and strings sort like the moments. Milliseconds
    because that is what JavaScript's ``Date`` keeps and prints (``toISOString``),
    the most common client; microseconds (PostgreSQL) would be cut there anyway,
    and whole seconds would hide the order of things done within one second.
    Truncated, not rounded: a written moment is never later than the stored one.
    A naive value is UTC (SQLite hands those back; ``db.UTCDateTime`` stores UTC).
    """
    utc = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    # isoformat cuts (never rounds) to the timespec and pads the year to 4 digits.
    return utc.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


# Every datetime field of a response model is a Timestamp (tests/unit/test_schemas.py
# checks it), so no answer can carry another format. Input is parsed as before.
Timestamp = Annotated[
    dt.datetime,
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


# NUL and lone surrogates cannot be stored in PostgreSQL text (and are never
# meaningful in titles, names or tags): refuse them at the edge, on every backend.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable(value: str) -> bool:
    return _UNSTORABLE.search(value) is not None


def check_text(value: str) -> str:
    if unstorable(value):
        raise ValueError("contains a NUL or an invalid Unicode character")
    return value


# For form fields and other parameters outside a StrictInput body.
StorableStr = Annotated[str, AfterValidator(check_text)]


class StrictInput(ApiModel):
    """Request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            check_text(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, str):
                    check_text(item)
        return value
