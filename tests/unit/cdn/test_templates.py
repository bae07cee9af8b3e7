"""Purge templates: one level and one form per template set, lists as JSON in a
body, words in a header, one argument per item in a command."""

from __future__ import annotations

import json

import pytest

from imghost.cdn.paths import image_paths
from imghost.cdn.templates import (
    Shape,
    TemplateError,
    batches,
    items,
    render,
    render_argv,
    shape,
)

BASE = "https://cdn.example.com"


def test_an_image_has_its_original_metadata_and_every_preset() -> None:
    paths = image_paths("img_a")
    assert paths[:2] == ["/images/img_a", "/images/img_a/metadata"]
    assert "/images/img_a/thumb.jpg" in paths and "/images/img_a/large.avif" in paths
    assert len(paths) == 2 + 4 * 3


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (["https://x/purge"], Shape(None, each=False)),
        (["https://x/purge/{image_id}"], Shape("image", each=True)),
        (["https://x/", '{"files": {urls}}'], Shape("path", each=False)),
        (["{prefixes}*"], Shape("image", each=False)),
        (["PURGE {url}", "{path}"], Shape("path", each=True)),
    ],
)
def test_shapes(texts: list[str], expected: Shape) -> None:
    assert shape(texts, "t") == expected


@pytest.mark.parametrize(
    ("texts", "why"),
    [
        (["{imageid}"], "unknown placeholder {imageid}"),
        (["{image_id}", "{path}"], "mixes image placeholders"),
        (["{paths}", "{path}"], "mixes one-call-per-item"),
    ],
)
def test_bad_template_sets(texts: list[str], why: str) -> None:
    with pytest.raises(TemplateError, match=why):
        shape(texts, "IMGHOST_X")


def test_prefixes_with_and_without_the_host() -> None:
    found = shape(['{"prefixes": {host_prefixes}}'], "t")
    [part] = batches(found, items(found.level, ["img_a", "img_b"], BASE), batch=30)
    assert json.loads(render('{"prefixes": {host_prefixes}}', part, "json")) == {
        "prefixes": ["cdn.example.com/images/img_a", "cdn.example.com/images/img_b"]
    }
    assert render("{prefix}*", part[:1], "words") == "/images/img_a*"


def test_a_body_gets_json_arrays_and_a_header_words() -> None:
    found = shape(['{"files": {urls}}'], "t")
    [part] = batches(found, items(found.level, ["img_a"], BASE), batch=100)
    body = json.loads(render('{"files": {urls}}', part, "json"))
    assert body["files"][0] == f"{BASE}/images/img_a" and len(body["files"]) == 14
    keys = shape(["{image_ids}"], "t")
    [both] = batches(keys, items(keys.level, ["img_a", "img_b"], BASE), batch=30)
    assert render("{image_ids}", both, "words") == "img_a img_b"


def test_lists_are_cut_into_batches_and_singulars_make_a_call_each() -> None:
    lists = shape(["{paths}"], "t")
    parts = batches(lists, items(lists.level, ["img_a", "img_b", "img_c"], BASE), batch=30)
    assert [len(p) for p in parts] == [30, 12]
    each = shape(["{url}"], "t")
    calls = batches(each, items(each.level, ["img_a"], BASE), batch=30)
    assert [render("PURGE {url}", p, "words") for p in calls][:2] == [
        f"PURGE {BASE}/images/img_a",
        f"PURGE {BASE}/images/img_a/metadata",
    ]
    none = shape(["https://x/purge_all"], "t")
    assert len(batches(none, items(none.level, ["img_a", "img_b"], BASE), batch=1)) == 1


def test_a_command_argument_with_a_list_repeats_per_item() -> None:
    argv = ["aws", "cloudfront", "create-invalidation", "--paths", "{prefixes}*"]
    found = shape(argv, "t")
    [part] = batches(found, items(found.level, ["img_a", "img_b"], BASE), batch=30)
    assert render_argv(argv, part) == [
        "aws",
        "cloudfront",
        "create-invalidation",
        "--paths",
        "/images/img_a*",
        "/images/img_b*",
    ]
