"""Let the edge send a local blob itself, after the origin has authorized the request.

The nginx edge (``edge.nginx``) asks for it with ``X-Imghost-Sendfile: PREFIX``,
the internal location it serves the blob directory from. The origin then
answers the headers it decided (type, validators, cache policy, disposition)
and ``X-Accel-Redirect: PREFIX + key`` instead of the bytes; nginx sends the
file by ``sendfile`` and answers Range requests from it.

Only plaintext local blobs qualify: an encrypted blob's stored bytes are not
what may be sent, and an S3 blob is not a file. A client that sends the header
straight to the origin only gets an empty answer naming a blob it was already
allowed to read.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from fastapi import Request, Response

from imghost.storage import BlobStore
from imghost.storage.local import LocalBlobStore

HEADER = "x-imghost-sendfile"
_PREFIX = re.compile(r"/[A-Za-z0-9_/-]*/")
# Headers nginx computes from the file itself.
_FROM_FILE = frozenset({"Content-Length", "Content-Range", "Accept-Ranges"})


def sendfile_prefix(request: Request, store: BlobStore) -> str | None:
    prefix = request.headers.get(HEADER)
    if prefix is None or not isinstance(store, LocalBlobStore):
        return None
    return prefix if _PREFIX.fullmatch(prefix) else None


def accel_response(prefix: str, key: str, headers: dict[str, str], media_type: str) -> Response:
    kept = {name: value for name, value in headers.items() if name not in _FROM_FILE}
    kept["X-Accel-Redirect"] = prefix + quote(key)
    return Response(headers=kept, media_type=media_type)
