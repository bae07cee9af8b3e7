"""The image-field rules, as every way in (form, tus metadata, JSON) reads them."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from imghost.errors import AppError
from imghost.images.fields import MAX_DESCRIPTION, MAX_TAGS, MAX_TITLE, fields_from_text
from imghost.images.schemas import ImagePatch
from imghost.uploads.schemas import FinalizeIn

DEFAULTS: dict[str, Any] = {
    "title": None,
    "description": None,
    "tags": [],
    "visibility": None,
    "keep_gps": None,
    "default_visibility": "unlisted",
    "default_keep_gps": True,
}


def test_unset_text_fields_take_the_account_defaults() -> None:
    for empty in (None, ""):
        fields = fields_from_text(
            **{**DEFAULTS, "title": empty, "description": empty, "keep_gps": empty}
        )
        assert (fields.title, fields.description) == (None, None)
        assert (fields.visibility, fields.keep_gps, fields.tags) == ("unlisted", True, [])
    given = fields_from_text(
        **{**DEFAULTS, "tags": ["A, b", "a"], "visibility": "private", "keep_gps": "false"}
    )
    assert (given.tags, given.visibility, given.keep_gps) == (["a", "b"], "private", False)


@pytest.mark.parametrize(
    ("change", "code", "detail"),
    [
        ({"title": "t" * (MAX_TITLE + 1)}, "validation_error", "title can be at most 200"),
        (
            {"description": "d" * (MAX_DESCRIPTION + 1)},
            "validation_error",
            "description can be at most 5000",
        ),
        ({"keep_gps": "yes"}, "validation_error", "keepGps must be true or false."),
        ({"tags": ["x" * 65]}, "invalid_tag", "Tags can be at most 64 characters long."),
        ({"tags": [f"t{n}" for n in range(MAX_TAGS + 1)]}, "too_many_tags", "at most 50 tags"),
        ({"visibility": "secret"}, "invalid_visibility", "visibility must be one of"),
    ],
)
def test_text_fields_out_of_bounds_are_refused(
    change: dict[str, Any], code: str, detail: str
) -> None:
    with pytest.raises(AppError) as err:
        fields_from_text(**{**DEFAULTS, **change})
    assert (err.value.status, err.value.code) == (422, code)
    assert detail in err.value.detail


def test_title_at_the_limit_is_accepted_everywhere() -> None:
    title = "t" * MAX_TITLE
    assert fields_from_text(**{**DEFAULTS, "title": title}).title == title
    assert ImagePatch(title=title).title == title
    assert FinalizeIn(upload_id="u", title=title).title == title


@pytest.mark.parametrize("model", [ImagePatch, FinalizeIn])
def test_json_bodies_hold_the_same_limits(model: type[ImagePatch | FinalizeIn]) -> None:
    base: dict[str, Any] = {"uploadId": "u"} if model is FinalizeIn else {}
    for too_much in (
        {"title": "t" * (MAX_TITLE + 1)},
        {"description": "d" * (MAX_DESCRIPTION + 1)},
        {"tags": ["t"] * (MAX_TAGS + 1)},
    ):
        with pytest.raises(ValidationError):
            model.model_validate({**base, **too_much})
