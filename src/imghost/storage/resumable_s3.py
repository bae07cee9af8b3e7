"""Resumable uploads on S3: an S3 multipart upload plus a small tail object.

As tusd does: every full part (``part_size``, at least S3's 5 MiB minimum)
goes to the multipart upload as soon as it is buffered; bytes that do not
fill a part when a request ends are kept as their own object (the tail) and
read back in front of the next request's bytes. So at most one part per
request is held in memory and nothing lands on the API's disk, and the next
PATCH may reach any API process.

The multipart upload targets the key the file will have as an image (the
tus layer reserves the image id), so a finished upload is already in place.

State (in the uploads row): ``{"multipartId": str | None, "parts": [[n,
etag, size], ...], "key", "contentType"}``, plus ``"sealed": true,
"dataSize": n`` once complete and ``"adopted": true`` once it is an image's.
While open, the tail's length is the offset minus the parts' total, so a
stale tail object (a crash before the row update) is never read past that.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from imghost.storage.base import check_key
from imghost.storage.resumable import Leftover, Piece, State
from imghost.storage.s3 import S3BlobStore
from imghost.storage.s3_multipart import NoSuchMultipart, S3Multipart

PREFIX = "tus/"


def _data_key(upload_id: str) -> str:
    return f"{PREFIX}{upload_id}/data"


def _tail_key(upload_id: str) -> str:
    return f"{PREFIX}{upload_id}/tail"


def _object_key(upload_id: str, state: State) -> str:
    """Where the multipart upload's object is (or will be) once complete."""
    return str(state.get("key") or _data_key(upload_id))


def _parts(state: State) -> list[list[Any]]:
    return [list(p) for p in state.get("parts", [])]


def _parts_size(state: State) -> int:
    return sum(int(p[2]) for p in state.get("parts", []))


class S3ResumableWriter:
    def __init__(
        self,
        store: S3ResumableStore,
        upload_id: str,
        state: State,
        buffer: bytearray,
        target: str | None,
    ) -> None:
        self._store = store
        self._id = upload_id
        self._multipart_id: str | None = state.get("multipartId")
        self._key: str | None = state.get("key")
        self._content_type: str | None = state.get("contentType")
        self._target = target
        self._created_multipart = False
        self._parts = _parts(state)
        self._buffer = buffer  # starts with the old tail
        self._tail_written = len(buffer)  # what the tail object holds now

    def _lead(self) -> int:
        return self._store.lead if not self._parts else 0

    def _flushed(self) -> int:
        return sum(int(p[2]) for p in self._parts)

    def _state(self) -> State:
        state: State = {"multipartId": self._multipart_id, "parts": self._parts}
        if self._key:
            state["key"] = self._key
            state["contentType"] = self._content_type
        return state

    async def write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= (size := self._store.part_size + self._lead()):
            with memoryview(self._buffer) as view:
                part = bytes(view[:size])  # one copy, not a slice and then a copy
            # Dropped from the buffer only once stored: if the put fails, close()
            # keeps these bytes in the tail.
            await self._put_part(part)
            del self._buffer[:size]
            self._tail_written = 0  # the old tail is inside a part now

    async def _put_part(self, data: bytes) -> None:
        multipart = self._store.multipart
        if self._multipart_id is None:
            # The first part starts the file: its leading bytes name the
            # format, recorded now so the object needs no copy to fix it later.
            self._key = self._target or _data_key(self._id)
            self._content_type = self._store.content_type(data[:4096])
            self._multipart_id = await multipart.create(
                self._store.key(self._key), self._content_type
            )
            self._created_multipart = True
        number = len(self._parts) + 1
        key = self._store.key(_object_key(self._id, self._state()))
        etag = await multipart.put_part(key, self._multipart_id, number, data)
        self._parts.append([number, etag, len(data)])

    def durable(self) -> tuple[int, State]:
        # Before close, only full parts are safe: the tail object may hold
        # bytes that have since gone into a part.
        return self._flushed() + self._tail_written, self._state()

    async def checkpoint(self) -> tuple[int, State]:
        # Mid-request, full parts are what is durable; writing the tail each
        # time would re-upload up to a part's worth of bytes.
        return self.durable()

    async def close(self) -> tuple[int, State]:
        if len(self._buffer) != self._tail_written:
            await self._store.blobs.put_bytes(_tail_key(self._id), bytes(self._buffer))
            self._tail_written = len(self._buffer)
        return self.durable()

    async def drop(self) -> None:
        # Not even the tail: the request holding the lease now owns it.
        self._buffer = bytearray()
        self._tail_written = 0

    async def abandon(self) -> None:
        # Parts numbered past the recorded ones are simply overwritten by the
        # next request; a multipart upload this writer created is unknown to
        # the row, so abort it now (gc would find it otherwise).
        self._buffer = bytearray()
        if self._created_multipart and self._multipart_id and self._key:
            await self._store.multipart.abort(self._store.key(self._key), self._multipart_id)


class S3ResumableStore:
    def __init__(
        self,
        blobs: S3BlobStore,
        multipart: S3Multipart,
        part_size: int,
        content_type: Callable[[bytes], str | None],
    ) -> None:
        self.blobs = blobs
        self.multipart = multipart
        self.part_size = part_size
        #: Extra bytes in the first part (an encrypted blob's header: then,
        #: with a part size of whole segments, every part holds whole segments).
        self.lead = 0
        #: The Content-Type of a file from its leading bytes (None: unknown).
        self.content_type = content_type

    def key(self, key: str) -> str:
        return self.blobs.prefix + check_key(key)

    async def open(
        self, upload_id: str, offset: int, state: State, target: str | None = None
    ) -> S3ResumableWriter:
        tail = offset - _parts_size(state)
        buffer = bytearray()
        if tail > 0:
            buffer += await self.blobs.read(_tail_key(upload_id), 0, tail)
        return S3ResumableWriter(self, upload_id, state, buffer, target)

    async def seal(self, upload_id: str, size: int, state: State) -> State:
        """Complete the multipart upload, the tail as its last part: then its
        object holds the whole file (``dataSize``)."""
        if state.get("sealed"):
            return state
        parts = _parts(state)
        multipart_id = state.get("multipartId")
        if not parts or not multipart_id:
            return {**state, "sealed": True, "dataSize": 0}  # all of it is the tail
        key = self.key(_object_key(upload_id, state))
        tail = size - _parts_size(state)
        try:
            if tail > 0:
                data = await self.blobs.read(_tail_key(upload_id), 0, tail)
                number = len(parts) + 1
                etag = await self.multipart.put_part(key, multipart_id, number, data)
                parts.append([number, etag, tail])
            await self.multipart.complete(key, multipart_id, [(p[0], p[1]) for p in parts])
        except NoSuchMultipart:
            # Completed by an earlier attempt that crashed before the row was
            # updated: fine if the object is whole (with or without the tail).
            meta = await self.blobs.head(_object_key(upload_id, state))
            if meta is None or meta.size not in (size, _parts_size(state)):
                raise
            return {**state, "sealed": True, "dataSize": meta.size}
        return {**state, "parts": parts, "sealed": True, "dataSize": size}

    async def assemble(self, pieces: list[Piece], dest: Path) -> None:
        with open(dest, "wb") as out:  # noqa: ASYNC230 - local spool, chunked writes
            for piece in pieces:
                data_size = int(piece.state.get("dataSize", 0))
                for key, length in (
                    (_object_key(piece.upload_id, piece.state), data_size),
                    (_tail_key(piece.upload_id), piece.size - data_size),
                ):
                    if length <= 0:
                        continue
                    stream = await self.blobs.get(key, 0, length, chunk_size=1024 * 1024)
                    async for chunk in stream:
                        out.write(chunk)

    async def adopt(self, pieces: list[Piece], key: str, content_type: str) -> State | None:
        if (
            len(pieces) != 1
            or not pieces[0].size
            or pieces[0].state.get("dataSize") != pieces[0].size
        ):
            return None
        piece = pieces[0]
        source = _object_key(piece.upload_id, piece.state)
        if source != key or piece.state.get("contentType") != content_type:
            # Elsewhere, or typed differently than validation found: a
            # server-side copy (onto itself to fix the type) moves no bytes here.
            await self.multipart.copy(self.key(source), self.key(key), content_type)
            if source != key:
                await self.blobs.delete(source)
        return {**piece.state, "key": key, "adopted": True}

    async def discard(self, upload_id: str, state: State) -> None:
        key = _object_key(upload_id, state)
        multipart_id = state.get("multipartId")
        if multipart_id and not state.get("sealed"):
            await self.multipart.abort(self.key(key), multipart_id)
        if not state.get("adopted"):
            await self.blobs.delete(key)
        await self.blobs.delete(_tail_key(upload_id))

    async def leftovers(self) -> list[Leftover]:
        now = dt.datetime.now(dt.UTC)
        found: list[Leftover] = []
        async for meta in self.blobs.list(PREFIX):
            upload_id = meta.key[len(PREFIX) :].split("/", 1)[0]
            found.append(Leftover(upload_id, (now - meta.last_modified).total_seconds()))
        # Multipart uploads go to the image's future key, anywhere in the
        # store: gc matches them by multipart id, not by upload id.
        for stray in await self.multipart.list(self.blobs.prefix):
            age = (now - stray.initiated).total_seconds()
            found.append(Leftover("", age, stray.multipart_id, stray.key))
        return found

    async def remove_leftover(self, leftover: Leftover) -> None:
        if leftover.handle:
            await self.multipart.abort(leftover.key, leftover.handle)
        else:
            await self.blobs.delete(_data_key(leftover.upload_id))
            await self.blobs.delete(_tail_key(leftover.upload_id))
