"""Spool incoming bytes to a temp file, hashing and counting as they arrive.

Bytes are never held whole in memory: each chunk is hashed (SHA-256) and
written straight to a file in the blob store's staging directory, and the
size limit is enforced chunk by chunk, so an oversized upload is refused as
soon as it crosses the limit rather than after it has been received.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Protocol


class Received(Protocol):
    """A whole file on local disk, counted and hashed: what validation takes."""

    @property
    def path(self) -> Path: ...

    @property
    def size(self) -> int: ...

    @property
    def sha256(self) -> str: ...


class TooLarge(Exception):
    pass


class Spool:
    def __init__(self, directory: Path, limit: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="upload-", dir=directory)
        self.path = Path(name)
        self._fh: BinaryIO | None = os.fdopen(fd, "wb")
        self.limit = limit
        self.size = 0
        self.overflowed = False
        self._hash = hashlib.sha256()

    def write(self, data: bytes | memoryview) -> None:
        if self.overflowed:
            return
        if self.size + len(data) > self.limit:
            # Stop writing; the caller decides whether to abort the request.
            self.overflowed = True
            self.discard_bytes()
            raise TooLarge
        self.size += len(data)
        self._hash.update(data)
        assert self._fh is not None
        self._fh.write(data)

    def finish(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def discard_bytes(self) -> None:
        self.finish()
        self.path.unlink(missing_ok=True)

    def cleanup(self) -> None:
        """Remove the temp file unless it was handed to the blob store."""
        self.discard_bytes()
