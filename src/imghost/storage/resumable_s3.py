"""Resumable uploads on S3: an S3 multipart upload plus a small tail object.

As tusd does: every full part (``part_size``, at least S3's 5 MiB minimum)
goes to the multipart upload as soon as it is buffered; bytes that do not
fill a part when a request ends are kept as their own object (the tail) and
read back in front of the next request's bytes. So at most one part per
request is held in memory and nothing lands on the API's disk, and the next
PATCH may reach any API process.

State (in the uploads row): ``{"multipartId": str | None, "parts": [[n,
etag, size], ...]}``, plus ``"sealed": true, "dataSize": n`` once complete.
While open, the tail's length is the offset minus the parts' total, so a
stale tail object (a crash before the row update) is never read past that.
"""

from __future__ import annotations

import datetime as dt
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
    ) -> None:
        self._store = store
        self._id = upload_id
        self._multipart_id: str | None = state.get("multipartId")
        self._created_multipart = False
        self._parts = _parts(state)
        self._buffer = buffer  # starts with the old tail
        self._tail_written = len(buffer)  # what the tail object holds now

    def _flushed(self) -> int:
        return sum(int(p[2]) for p in self._parts)

    def _state(self) -> State:
        return {"multipartId": self._multipart_id, "parts": self._parts}

    async def write(self, data: bytes) -> None:
        self._buffer += data
        size = self._store.part_size
        while len(self._buffer) >= size:
            await self._put_part(bytes(self._buffer[:size]))
            del self._buffer[:size]
            self._tail_written = 0  # the old tail is inside a part now

    async def _put_part(self, data: bytes) -> None:
        multipart = self._store.multipart
        key = self._store.key(_data_key(self._id))
        if self._multipart_id is None:
            self._multipart_id = await multipart.create(key)
            self._created_multipart = True
        number = len(self._parts) + 1
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

    async def abandon(self) -> None:
        # Parts numbered past the recorded ones are simply overwritten by the
        # next request; a multipart upload this writer created is unknown to
        # the row, so abort it now (gc would find it otherwise).
        self._buffer = bytearray()
        if self._created_multipart and self._multipart_id:
            await self._store.multipart.abort(
                self._store.key(_data_key(self._id)), self._multipart_id
            )


class S3ResumableStore:
    def __init__(self, blobs: S3BlobStore, multipart: S3Multipart, part_size: int) -> None:
        self.blobs = blobs
        self.multipart = multipart
        self.part_size = part_size

    def key(self, key: str) -> str:
        return self.blobs.prefix + key

    async def open(self, upload_id: str, offset: int, state: State) -> S3ResumableWriter:
        tail = offset - _parts_size(state)
        buffer = bytearray()
        if tail > 0:
            buffer += await self.blobs.read(_tail_key(upload_id), 0, tail)
        return S3ResumableWriter(self, upload_id, state, buffer)

    async def seal(self, upload_id: str, size: int, state: State) -> State:
        """Complete the multipart upload, the tail as its last part: then the
        data object holds the whole file (``dataSize``) and can be copied."""
        if state.get("sealed"):
            return state
        parts = _parts(state)
        multipart_id = state.get("multipartId")
        if not parts or not multipart_id:
            return {**state, "sealed": True, "dataSize": 0}  # all of it is the tail
        key = self.key(_data_key(upload_id))
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
            meta = await self.blobs.head(_data_key(upload_id))
            if meta is None or meta.size not in (size, _parts_size(state)):
                raise
            return {**state, "sealed": True, "dataSize": meta.size}
        return {**state, "parts": parts, "sealed": True, "dataSize": size}

    async def assemble(self, pieces: list[Piece], dest: Path) -> None:
        with open(dest, "wb") as out:  # noqa: ASYNC230 - local spool, chunked writes
            for piece in pieces:
                data_size = int(piece.state.get("dataSize", 0))
                for key, length in (
                    (_data_key(piece.upload_id), data_size),
                    (_tail_key(piece.upload_id), piece.size - data_size),
                ):
                    if length <= 0:
                        continue
                    stream = await self.blobs.get(key, 0, length, chunk_size=1024 * 1024)
                    async for chunk in stream:
                        out.write(chunk)

    async def adopt(self, pieces: list[Piece], key: str, content_type: str) -> bool:
        if len(pieces) != 1 or pieces[0].state.get("dataSize") != pieces[0].size:
            return False
        source = self.key(_data_key(pieces[0].upload_id))
        await self.multipart.copy(source, self.key(check_key(key)), content_type)
        return True

    async def discard(self, upload_id: str, state: State) -> None:
        multipart_id = state.get("multipartId")
        if multipart_id and not state.get("sealed"):
            await self.multipart.abort(self.key(_data_key(upload_id)), multipart_id)
        await self.blobs.delete(_data_key(upload_id))
        await self.blobs.delete(_tail_key(upload_id))

    async def leftovers(self) -> list[Leftover]:
        now = dt.datetime.now(dt.UTC)
        found: list[Leftover] = []
        async for meta in self.blobs.list(PREFIX):
            upload_id = meta.key[len(PREFIX) :].split("/", 1)[0]
            found.append(Leftover(upload_id, (now - meta.last_modified).total_seconds()))
        for stray in await self.multipart.list(self.key(PREFIX)):
            upload_id = stray.key[len(self.key(PREFIX)) :].split("/", 1)[0]
            age = (now - stray.initiated).total_seconds()
            found.append(Leftover(upload_id, age, stray.multipart_id))
        return found

    async def remove_leftover(self, leftover: Leftover) -> None:
        if leftover.handle:
            await self.multipart.abort(self.key(_data_key(leftover.upload_id)), leftover.handle)
        else:
            await self.blobs.delete(_data_key(leftover.upload_id))
            await self.blobs.delete(_tail_key(leftover.upload_id))
