"""Shared base for request/response models: camelCase on the wire."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, field_validator
from pydantic.alias_generators import to_camel

# Widest first; what each value lets in: ``imghost.access.policy``.
Visibility = Literal["public", "unlisted", "shared", "private"]


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
