"""Storage for uploads that arrive in pieces (tus), behind one interface.

An upload's durable state is ``(offset, state)``: ``offset`` bytes are safe,
``state`` is the backend's bookkeeping (JSON, kept in the uploads row). A
writer appends the bytes of one request; the caller persists what
:meth:`ResumableWriter.durable` reports whenever it likes (a checkpoint) and
after :meth:`ResumableWriter.close`. The database is the source of truth: a
backend ignores anything it holds beyond the offset it is reopened with, so a
crash between a write and the row update loses nothing but those bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

State = dict[str, Any]


@dataclass(frozen=True)
class Piece:
    """One finished upload to read back: its id, length and backend state."""

    upload_id: str
    size: int
    state: State


class ResumableWriter(Protocol):
    async def write(self, data: bytes) -> None: ...

    def durable(self) -> tuple[int, State]:
        """The offset and state that are safe right now (no I/O)."""
        ...

    async def checkpoint(self) -> tuple[int, State]:
        """Make durable what is cheap to (mid-request); returns the offset and state."""
        ...

    async def close(self) -> tuple[int, State]:
        """Make everything written durable and release the writer."""
        ...

    async def abandon(self) -> None:
        """Drop the bytes this writer took in; the upload stays at its old offset."""
        ...

    async def drop(self) -> None:
        """Let go without writing or removing anything more (the lease was lost:
        the upload's bytes are another request's now)."""
        ...


class ResumableStore(Protocol):
    async def open(
        self, upload_id: str, offset: int, state: State, target: str | None = None
    ) -> ResumableWriter:
        """A writer appending at ``offset`` (bytes past it are overwritten).

        ``target`` is the blob key the whole file will be stored under if it
        becomes an image; a backend may write there directly (S3 does), so
        that :meth:`adopt` has nothing to move."""
        ...

    async def seal(self, upload_id: str, size: int, state: State) -> State:
        """All bytes are in: make them readable (S3 completes the multipart upload)."""
        ...

    async def assemble(self, pieces: list[Piece], dest: Path) -> None:
        """Write the sealed uploads' bytes, in order, to the local file ``dest``."""
        ...

    async def adopt(self, pieces: list[Piece], key: str, content_type: str) -> State | None:
        """Make the sealed bytes blob ``key`` without moving them through this
        process, if the backend can (S3: they are there already, or a
        server-side copy). Returns the piece's state from then on (``discard``
        leaves the blob alone), or None: the caller stores the file itself."""
        ...

    async def discard(self, upload_id: str, state: State) -> None:
        """Remove every byte of an upload (not a blob it was adopted as); idempotent."""
        ...

    async def leftovers(self) -> list[Leftover]:
        """Bytes the store holds for uploads (for gc to check against the database)."""
        ...

    async def remove_leftover(self, leftover: Leftover) -> None: ...


@dataclass(frozen=True)
class Leftover:
    #: The upload the bytes belong to; "" when only ``handle`` identifies them.
    upload_id: str
    age_seconds: float
    #: Backend detail (the S3 multipart id) needed to remove it, and its key.
    handle: str = ""
    key: str = ""
