"""Which delivery path a signed URL may point at, and the URL itself."""

from __future__ import annotations

import datetime as dt

from imghost.errors import AppError
from imghost.processing.variants import (
    EXT_FORMAT,
    PRESET_EXTENSIONS,
    PRESETS,
    parse_transform,
)
from imghost.signing import SigningKeys, sign_url


def variant_path(image_id: str, variant: str | None, permissions: list[str]) -> str:
    """The exact path to sign; the original needs `download`, the rest `view`."""
    download = "download" in permissions
    variant = variant or ("original" if download else "large.jpg")
    base = f"/images/{image_id}"
    if variant == "original":
        if not download:
            raise AppError(
                400,
                "permission_insufficient",
                "A signed URL to the original needs the `download` permission.",
            )
        return base
    if variant == "metadata":
        return f"{base}/metadata"
    if variant.startswith("t/"):
        options, dot, ext = variant[2:].rpartition(".")
        if not dot or (ext not in EXT_FORMAT and ext != "auto"):
            raise AppError(400, "invalid_variant", f"{variant!r} is not a transform URL.")
        parse_transform(options)  # raises 400 invalid_transform with the reason
        return f"{base}/{variant}"
    name, dot, ext = variant.rpartition(".")
    if dot and name in PRESETS and ext in PRESET_EXTENSIONS:
        return f"{base}/{variant}"
    raise AppError(
        400,
        "invalid_variant",
        f"{variant!r} is not a variant: use original, metadata, a preset such as medium.webp "
        "or a transform such as t/w_640.webp.",
    )


def signed_url(
    keys: SigningKeys, base_url: str, path: str, permissions: list[str], expires: dt.datetime
) -> str:
    params = sign_url(keys, path, int(expires.timestamp()), permissions)
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{base_url}{path}?{query}"
