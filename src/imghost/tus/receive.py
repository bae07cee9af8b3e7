"""Take in one PATCH body: stream it into a resumable writer, checkpointing.

This runs for as long as the client sends (minutes for a big chunk), so
every few seconds or megabytes it hands the caller a checkpoint: the durable
offset to record (in a short transaction of the caller's) while renewing its
lease. With Upload-Checksum nothing counts until the whole body matched, so
a checkpoint only keeps the lease alive. If the connection breaks, what
arrived is made durable, so HEAD reports it and the client resumes from
there. Bytes only: no database here.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import anyio
from starlette.requests import ClientDisconnect

from imghost.bodies import BodyTimeout
from imghost.storage.resumable import ResumableWriter, State

#: The longest time between checkpoints (under a long lease; a short one
#: shortens it, see ``Pace``).
CHECKPOINT_SECONDS = 5.0
CHECKPOINT_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Pace:
    """How often a body renews the lease it streams under, and how long it may
    send nothing, both from the lease (``IMGHOST_TUS_LEASE``).

    A checkpoint (and so a renewal) comes with the first chunk at least
    ``checkpoint`` seconds after the last one, and chunks come at most
    ``idle`` seconds apart, or the body is cut off (its bytes kept). So the
    lease is renewed at least every ``checkpoint + idle`` seconds plus one
    chunk's write and the checkpoint itself: 5/8 of the lease at most, and
    the other 3/8 are left for those two. A request that holds the lease
    always renews it in time, and a stalled client cannot keep others out,
    or outlive its lease and write beside the request that took over."""

    #: Seconds between checkpoints: at most an eighth of the lease.
    checkpoint: float
    #: Seconds a body may send nothing before it is cut off: half the lease.
    idle: float

    @classmethod
    def of(cls, lease: float) -> Pace:
        return cls(checkpoint=min(CHECKPOINT_SECONDS, lease / 8), idle=lease / 2)


class Stalled(Exception):
    pass


async def _chunks(body: AsyncIterator[bytes], idle: float) -> AsyncIterator[bytes]:
    iterator = aiter(body)
    while True:
        with anyio.move_on_after(idle) as waited:
            try:
                chunk = await anext(iterator)
            except StopAsyncIteration:
                return
        if waited.cancelled_caught:
            raise Stalled
        yield chunk


#: Called at each checkpoint with the durable offset and state to record, or
#: None when nothing counts yet (a checksummed body): the lease is renewed.
Checkpoint = Callable[[tuple[int, State] | None], Awaitable[None]]


@dataclass
class Received:
    offset: int
    #: The writer's state at ``offset`` (None when nothing was kept).
    state: State | None
    #: The client sent more than it may (past Upload-Length or the size limit).
    overflowed: bool = False
    disconnected: bool = False
    #: The client stopped sending without closing the connection.
    stalled: bool = False
    #: Upload-Checksum did not match the body (nothing was kept).
    mismatched: bool = False


async def receive(
    writer: ResumableWriter,
    start: int,
    body: AsyncIterator[bytes],
    limit: int,
    checksum: tuple[str, bytes] | None,
    checkpoint: Checkpoint,
    pace: Pace,
) -> Received:
    """Append up to ``limit`` bytes of ``body`` to ``writer`` (opened at offset
    ``start``) and close it, checkpointing at ``pace``; returns the new
    durable offset.

    On an error (the store's, a checkpoint's, cancellation) the writer is left
    open for the caller to keep or drop what it holds."""
    hasher, expected = (hashlib.new(checksum[0]), checksum[1]) if checksum else (None, b"")
    taken = 0
    overflowed = disconnected = stalled = False
    since_bytes, since_time = 0, time.monotonic()
    try:
        async for chunk in _chunks(body, pace.idle):
            if taken + len(chunk) > limit:
                chunk = chunk[: limit - taken]
                overflowed = True
            if hasher is not None:
                hasher.update(chunk)
            await writer.write(chunk)
            taken += len(chunk)
            since_bytes += len(chunk)
            if overflowed:
                break
            if time.monotonic() - since_time >= pace.checkpoint or (
                hasher is None and since_bytes >= CHECKPOINT_BYTES
            ):
                # Nothing counts before the whole body matched its checksum:
                # then only the lease is renewed.
                await checkpoint(await writer.checkpoint() if hasher is None else None)
                since_bytes, since_time = 0, time.monotonic()
    except ClientDisconnect:
        disconnected = True
    except (Stalled, BodyTimeout):
        # Too slow for the server's body limits (bodies.py) is stalled
        # too: what arrived is kept and the client resumes from HEAD.
        stalled = True
    cut = disconnected or stalled
    if hasher is not None and (cut or hasher.digest() != expected):
        # A checksum covers the whole body: a partial or wrong one keeps nothing.
        await writer.abandon()
        return Received(start, None, False, disconnected, stalled, mismatched=not cut)
    offset, state = await writer.close()
    return Received(offset, state, overflowed, disconnected, stalled)
