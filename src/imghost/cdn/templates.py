"""Purge templates, pure: the placeholders of ``IMGHOST_CDN_PURGE_*`` and the
calls (HTTP requests or argument vectors) they make for a set of images.

Placeholders come in two levels and two forms:

=========  =========================================  ===============================
level      one call per item                          every item in one call
=========  =========================================  ===============================
image      ``{image_id}``, ``{prefix}``,                ``{image_ids}``, ``{prefixes}``,
           ``{host_prefix}``                          ``{host_prefixes}``
path       ``{path}``, ``{url}``                        ``{paths}``, ``{urls}``
=========  =========================================  ===============================

``{prefix}`` is ``/images/{id}``, under which every URL of the image lies
(originals, presets, transforms: for wildcard and prefix purges), and
``{host_prefix}`` the same under the base URL without its scheme
(``img.example.com/images/{id}``, Cloudflare's prefix purge); the paths
are the URLs an image has whatever was requested (the original, its
metadata, every preset in every format), and ``{url}`` is a path under
``IMGHOST_CDN_PURGE_BASE_URL``. A template set (the request's URL, headers
and body together, or the command) uses one level and one form; list calls
carry at most ``IMGHOST_CDN_PURGE_BATCH`` items. Lists become a JSON array in
a body, space-separated words in a header, and in a command one argument per
item (the text around the placeholder repeated with each). ``{{`` and ``}}``
need no escaping: only ``{name}`` with a known name is a placeholder.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from imghost.cdn.paths import image_paths, image_prefix

Level = Literal["image", "path"]

# singular -> (its list, its level)
SINGULAR: dict[str, tuple[str, Level]] = {
    "image_id": ("image_ids", "image"),
    "prefix": ("prefixes", "image"),
    "host_prefix": ("host_prefixes", "image"),
    "path": ("paths", "path"),
    "url": ("urls", "path"),
}
LISTS: dict[str, str] = {plural: name for name, (plural, _) in SINGULAR.items()}
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


class TemplateError(ValueError):
    """A template that cannot be used (the message names the problem)."""


def names(text: str) -> list[str]:
    return _PLACEHOLDER.findall(text)


@dataclass(frozen=True)
class Shape:
    """How a template set expands: its level (None: no placeholder, one call)
    and whether it makes a call per item or per batch of items."""

    level: Level | None
    each: bool


def shape(texts: Iterable[str], what: str) -> Shape:
    """The shape of ``texts`` taken together; TemplateError naming ``what``."""
    found = [name for text in texts for name in names(text)]
    unknown = sorted({n for n in found if n not in SINGULAR and n not in LISTS})
    if unknown:
        known = ", ".join(f"{{{n}}}" for n in [*SINGULAR, *LISTS])
        raise TemplateError(f"{what}: unknown placeholder {{{unknown[0]}}} (known: {known})")
    if not found:
        return Shape(None, each=False)
    levels = {SINGULAR[LISTS.get(n, n)][1] for n in found}
    if len(levels) > 1:
        raise TemplateError(
            f"{what}: mixes image placeholders ({{image_id}}, {{prefix}}, lists) with path "
            "placeholders ({path}, {url}, lists); use one kind"
        )
    each = {n in SINGULAR for n in found}
    if len(each) > 1:
        raise TemplateError(
            f"{what}: mixes one-call-per-item placeholders ({{image_id}}, {{path}}, …) with "
            "list placeholders ({image_ids}, {paths}, …); use one form"
        )
    return Shape(levels.pop(), each=each.pop())


@dataclass(frozen=True)
class Item:
    """One image or one of its paths, with the value of every singular placeholder."""

    values: dict[str, str]


def items(level: Level | None, image_ids: Sequence[str], base_url: str) -> list[Item]:
    if level == "path":
        return [Item({"path": p, "url": base_url + p}) for i in image_ids for p in image_paths(i)]
    host = base_url.split("://", 1)[-1]
    return [
        Item({"image_id": i, "prefix": image_prefix(i), "host_prefix": host + image_prefix(i)})
        for i in image_ids
    ]


def batches(shape_: Shape, all_items: list[Item], batch: int) -> list[list[Item]]:
    """The items of each call: one each, in batches, or (no placeholder) all in one."""
    if shape_.level is None:
        return [all_items]
    size = 1 if shape_.each else batch
    return [all_items[i : i + size] for i in range(0, len(all_items), size)]


def _values(part: list[Item], name: str) -> list[str]:
    return [item.values[name] for item in part]


def render(text: str, part: list[Item], lists: Literal["json", "words", "each"]) -> str:
    """``text`` with its placeholders filled from ``part`` (singular: its one
    item; lists: JSON arrays, space-separated words, or ``each``: the value of
    ``part``'s one item, for a command's argument repeated per item)."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in SINGULAR:
            return part[0].values[name]
        if lists == "each":
            return part[0].values[LISTS[name]]
        values = _values(part, LISTS[name])
        return json.dumps(values) if lists == "json" else " ".join(values)

    return _PLACEHOLDER.sub(fill, text)


def render_argv(argv: Sequence[str], part: list[Item]) -> list[str]:
    """A command's arguments for ``part``: an argument with a list placeholder
    becomes one argument per item."""
    out: list[str] = []
    for arg in argv:
        if not any(n in LISTS for n in names(arg)):
            out.append(render(arg, part, "words"))
            continue
        # Only list placeholders here (a template uses one form): each item in turn.
        out.extend(render(arg, [item], "each") for item in part)
    return out
