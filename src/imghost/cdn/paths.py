"""The public URLs of an image, as a CDN in front caches them."""

from __future__ import annotations

from imghost.processing.variants import PRESET_EXTENSIONS, PRESETS


def image_prefix(image_id: str) -> str:
    """Every URL of the image starts with this (transforms included)."""
    return f"/images/{image_id}"


def image_paths(image_id: str) -> list[str]:
    """The URLs every image has, whatever was requested: the original, its
    metadata, and each preset in each format. Transforms (``/t/…``) are named
    by their requester and cannot be listed: a prefix, wildcard or tag purge
    covers them."""
    base = image_prefix(image_id)
    presets = [f"{base}/{name}.{ext}" for name in PRESETS for ext in PRESET_EXTENSIONS]
    return [base, f"{base}/metadata", *presets]
