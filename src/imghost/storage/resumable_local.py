"""Resumable uploads on the local filesystem: one file per upload, appended.

Files live in ``<root>/.tus`` beside the blobs, so every API process on the
machine sees the same bytes and a finished upload moves into the blob store
by a link, not a copy. Writes are batched (1 MiB) here, not in a file buffer
(so a writer that lost its lease can let go without a byte more reaching the
file), and handed to a thread; a checkpoint fsyncs before its offset is
reported durable.
"""

from __future__ import annotations

import io
import os
import shutil
import time
from pathlib import Path

import anyio

from imghost.storage.resumable import Leftover, Piece, State

FLUSH_BYTES = 1024 * 1024


class LocalResumableWriter:
    def __init__(self, fh: io.FileIO, offset: int) -> None:
        self._fh = fh
        self._start = offset
        self._written = offset  # bytes handed to the file
        self._synced = offset
        self._buffer = bytearray()

    async def write(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) >= FLUSH_BYTES:
            await self._flush()

    async def _flush(self) -> None:
        if not self._buffer:
            return
        data, self._buffer = self._buffer, bytearray()
        await anyio.to_thread.run_sync(self._write_all, data)
        self._written += len(data)

    def _write_all(self, data: bytearray) -> None:
        with memoryview(data) as view:
            done = 0
            while done < len(view):
                done += self._fh.write(view[done:]) or 0

    def durable(self) -> tuple[int, State]:
        return self._synced, {}

    async def checkpoint(self) -> tuple[int, State]:
        await self._flush()

        await anyio.to_thread.run_sync(os.fsync, self._fh.fileno())
        self._synced = self._written
        return self.durable()

    async def close(self) -> tuple[int, State]:
        try:
            return await self.checkpoint()
        finally:
            self._fh.close()

    async def drop(self) -> None:
        # Unbuffered: closing writes nothing.
        self._buffer = bytearray()
        self._fh.close()

    async def abandon(self) -> None:
        self._buffer = bytearray()

        def _truncate() -> None:
            self._fh.truncate(self._start)
            self._fh.close()

        await anyio.to_thread.run_sync(_truncate)


class LocalResumableStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, upload_id: str) -> Path:
        if not upload_id.replace("_", "").isalnum():
            raise ValueError(f"invalid upload id {upload_id!r}")
        return self.directory / upload_id

    async def open(
        self, upload_id: str, offset: int, state: State, target: str | None = None
    ) -> LocalResumableWriter:
        path = self._path(upload_id)

        def _open() -> io.FileIO:
            fh = io.FileIO(os.open(path, os.O_RDWR | os.O_CREAT, 0o644), "r+")
            # The row's offset is the truth: bytes past it (written before a
            # crash, never recorded) are overwritten.
            fh.truncate(offset)
            fh.seek(offset)
            return fh

        return LocalResumableWriter(await anyio.to_thread.run_sync(_open), offset)

    async def seal(self, upload_id: str, size: int, state: State) -> State:
        if size == 0:
            # Nothing was ever written, so there may be no file: an empty one.
            path = self._path(upload_id)
            await anyio.to_thread.run_sync(lambda: path.touch(exist_ok=True))
        return state

    async def assemble(self, pieces: list[Piece], dest: Path) -> None:
        def _assemble() -> None:
            if len(pieces) == 1 and pieces[0].size > 0:
                # The staging directory is on the same filesystem: a second
                # name, not a copy (the upload's own name goes with discard).
                dest.unlink(missing_ok=True)
                try:
                    os.link(self._path(pieces[0].upload_id), dest)
                    return
                except OSError:
                    pass
            with open(dest, "wb") as out:
                for piece in pieces:
                    if piece.size == 0:
                        continue  # nothing to read (and maybe no file)
                    with open(self._path(piece.upload_id), "rb") as src:
                        shutil.copyfileobj(src, out, 1024 * 1024)

        await anyio.to_thread.run_sync(_assemble)

    async def adopt(self, pieces: list[Piece], key: str, content_type: str) -> State | None:
        # The assembled file is a link to the same bytes: storing it is a rename.
        return None

    async def discard(self, upload_id: str, state: State) -> None:
        await anyio.to_thread.run_sync(lambda: self._path(upload_id).unlink(missing_ok=True))

    async def leftovers(self) -> list[Leftover]:
        def _scan() -> list[Leftover]:
            now = time.time()
            return [
                Leftover(entry.name, now - entry.stat().st_mtime)
                for entry in os.scandir(self.directory)
                if entry.is_file()
            ]

        return await anyio.to_thread.run_sync(_scan)

    async def remove_leftover(self, leftover: Leftover) -> None:
        await self.discard(leftover.upload_id, {})
