"""Which requests rate limits apply to, decided from the method and path alone.

Uploads (one ``uploads`` hit per upload started, bytes counted where they
arrive):

- ``POST /v1/images``: a direct (multipart) upload, or the finalize of a
  presigned one; the multipart body's bytes count;
- ``POST /v1/uploads``: a presigned upload starts; its declared ``size``
  counts when the answer is a success, because on S3 the bytes go to the
  bucket and never pass through us (``PUT /v1/uploads/{id}/content``, the
  local-files target, is therefore not counted again);
- ``POST /v1/tus``: a tus upload is created (the body of a
  creation-with-upload counts);
- ``PATCH /v1/tus/{id}``: no new upload, its bytes count.

Views and downloads (one ``views`` hit each, ``GET`` and ``HEAD``):
``/images/{id}``, its presets and transforms, ``/images/{id}/metadata`` and
``/v1/images/{id}/file``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from imghost.ratelimit.rules import Category

# none: no byte budget; stream: the body's bytes as they arrive; declared: the
# JSON body's ``size`` (presigned uploads).
BodyCount = Literal["none", "stream", "multipart", "declared"]


@dataclass(frozen=True)
class Route:
    counts: Category | None
    body: BodyCount
    tus_create: bool = False


_UPLOAD = Route("uploads", "multipart")
_PRESIGN = Route("uploads", "declared")
_TUS_CREATE = Route("uploads", "stream", tus_create=True)
_TUS_PATCH = Route(None, "stream")
_VIEW = Route("views", "none")

_POSTS = {"/v1/images": _UPLOAD, "/v1/uploads": _PRESIGN, "/v1/tus": _TUS_CREATE}
_TUS_ID = re.compile(r"^/v1/tus/[^/]+$")
_IMAGE = re.compile(r"^/images/[^/]+(?:/.+)?$")
_FILE = re.compile(r"^/v1/images/[^/]+/file$")
_UPLOAD_CONTENT = re.compile(r"^/v1/uploads/[^/]+/content$")


def classify(method: str, path: str) -> Route | None:
    if method in ("GET", "HEAD"):
        if _IMAGE.match(path) or _FILE.match(path):
            return _VIEW
        return None
    if method == "POST":
        return _POSTS.get(path.rstrip("/") or "/")
    if method == "PATCH" and _TUS_ID.match(path):
        return _TUS_PATCH
    return None


def is_upload(method: str, path: str) -> bool:
    """The routes whose body is an upload, with size limits of their own
    (see ``imghost.bodies``): those whose body's bytes are counted as they
    stream, and the local-files target of a presigned upload, which rate limits
    do not count (its upload was counted when it was created)."""
    if method == "PUT":
        return _UPLOAD_CONTENT.match(path) is not None
    route = classify(method, path)
    return route is not None and route.body in ("stream", "multipart")
