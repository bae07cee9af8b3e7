"""Resumable uploads, encrypted: a layer over the local or S3 resumable store.

The inner store receives a blob in ``storage.envelope``'s format, header
first, one whole segment at a time, so every offset it makes durable falls
between segments (on S3, its parts hold whole segments: see ``lead``). The
plaintext that does not fill a segment when a request ends is sealed under the
upload's data key as the segment it will become (not final, a fresh nonce) and
kept in the upload's state, beside the inner store's own; the next request
opens it and goes on. Sealing the upload writes it as the final segment, so
the inner bytes are a whole encrypted blob, which becomes the image's as it
is (S3: in place already; local files: the upload's file moved into place).

State: ``{"enc": {"kid", "key", "segments", "stored", "tail"}, "inner": {...}}``,
the plaintext offset being ``segments * SEGMENT`` plus the tail's length.
Uploads begun before encryption was turned on have no ``enc`` and pass
through as they are (their bytes are encrypted when they become an image).
"""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Any

import anyio

from imghost.storage import envelope
from imghost.storage.base import BlobStore
from imghost.storage.envelope import HEADER, SEGMENT, SLOT, BlobKey, Decryptor, Header, Sealer
from imghost.storage.keys import KeyEncryptionKeys
from imghost.storage.resumable import Leftover, Piece, ResumableStore, ResumableWriter, State

#: Plaintext gathered before whole segments are sealed and handed on.
BATCH = 16 * SEGMENT


def _legacy(state: State) -> bool:
    return "enc" not in state and bool(state)


def _segments_in(stored: int) -> int:
    return 0 if stored == 0 else (stored - HEADER) // SLOT


class _Upload:
    """An upload's encryption state (``state["enc"]``) and its inner state."""

    def __init__(self, blob: BlobKey, segments: int, stored: int, tail: bytes, inner: State):
        self.blob = blob
        self.segments = segments
        self.stored = stored
        self.tail = tail
        self.inner = inner

    @classmethod
    def load(cls, keys: KeyEncryptionKeys, state: State) -> _Upload:
        enc = state.get("enc")
        if enc is None:
            return cls(BlobKey.new(keys), 0, 0, b"", {})
        wrapped = base64.b64decode(enc["key"])
        blob = BlobKey(Header(enc["kid"], wrapped), Sealer(keys.unwrap(enc["kid"], wrapped)))
        segments = int(enc["segments"])
        tail = b""
        if enc.get("tail"):
            tail = blob.sealer.open(segments, base64.b64decode(enc["tail"]), final=False)
        return cls(blob, segments, int(enc["stored"]), tail, dict(state.get("inner") or {}))

    @property
    def offset(self) -> int:
        return self.segments * SEGMENT + len(self.tail)

    def state(self, extra: State | None = None) -> State:
        enc: dict[str, Any] = {
            "kid": self.blob.header.kid,
            "key": base64.b64encode(self.blob.header.wrapped).decode(),
            "segments": self.segments,
            "stored": self.stored,
        }
        if self.tail:
            sealed = self.blob.sealer.seal(self.segments, self.tail, final=False)
            enc["tail"] = base64.b64encode(sealed).decode()
        return {"enc": enc, "inner": self.inner, **(extra or {})}

    def lead(self) -> bytes:
        """What goes before the next segment: the header, if nothing has yet."""
        return self.blob.header.encode() if self.stored == 0 else b""


class EncryptingWriter:
    def __init__(self, inner: ResumableWriter, upload: _Upload, start: tuple[int, State]):
        self._inner = inner
        self._upload = upload
        self._buffer = bytearray(upload.tail)
        self._segments = upload.segments  # full segments handed to the inner writer
        self._handed = upload.stored  # inner bytes handed
        self._start = start  # the offset and state it was opened at

    async def write(self, data: bytes) -> None:
        # Sealed a batch at a time: request bodies arrive in pieces of a few
        # KiB, and each call to the inner writer costs more than the cipher.
        self._buffer += data
        if len(self._buffer) >= BATCH:
            await self._seal_whole()

    async def _seal_whole(self) -> None:
        """Seal the buffer's whole segments and hand them to the inner writer."""
        whole = len(self._buffer) // SEGMENT
        if not whole:
            return
        pieces = [self._upload.lead()] if self._handed == 0 else []
        sealer = self._upload.blob.sealer
        with memoryview(self._buffer) as view:
            for n in range(whole):
                segment = view[n * SEGMENT : (n + 1) * SEGMENT]
                pieces.extend(sealer.seal_parts(self._segments + n, segment, final=False))
                segment.release()
        del self._buffer[: whole * SEGMENT]
        out = b"".join(pieces)
        await self._inner.write(out)
        self._segments += whole
        self._handed += len(out)

    def durable(self) -> tuple[int, State]:
        stored, inner = self._inner.durable()
        segments = _segments_in(stored)
        if segments * SEGMENT < self._start[0]:
            return self._start  # the tail it was opened with is not in a segment yet
        self._upload.segments, self._upload.stored = segments, stored
        self._upload.tail, self._upload.inner = b"", inner
        return segments * SEGMENT, self._upload.state()

    async def checkpoint(self) -> tuple[int, State]:
        await self._seal_whole()
        await self._inner.checkpoint()
        return self.durable()

    async def close(self) -> tuple[int, State]:
        await self._seal_whole()
        stored, inner = await self._inner.close()
        self._upload.segments, self._upload.stored = _segments_in(stored), stored
        self._upload.tail, self._upload.inner = bytes(self._buffer), inner
        return self._upload.offset, self._upload.state()

    async def abandon(self) -> None:
        self._buffer = bytearray()
        await self._inner.abandon()

    async def drop(self) -> None:
        self._buffer = bytearray()
        await self._inner.drop()


class SealedWriter:
    """A sealed upload (every byte in, its final segment written) reopened by a
    retry that sends nothing more: there is nothing to write."""

    def __init__(self, offset: int, state: State) -> None:
        self._durable = (offset, state)

    async def write(self, data: bytes) -> None:
        if data:
            raise ValueError("bytes sent to a sealed upload")

    def durable(self) -> tuple[int, State]:
        return self._durable

    async def checkpoint(self) -> tuple[int, State]:
        return self._durable

    async def close(self) -> tuple[int, State]:
        return self._durable

    async def abandon(self) -> None:
        return None

    async def drop(self) -> None:
        return None


class EncryptingResumableStore:
    def __init__(self, inner: ResumableStore, keys: KeyEncryptionKeys, raw: BlobStore) -> None:
        self.inner = inner
        self.keys = keys
        #: The blob store under the encrypting one: a sealed upload's bytes
        #: are a whole encrypted blob, installed there as they are.
        self.raw = raw

    async def open(
        self, upload_id: str, offset: int, state: State, target: str | None = None
    ) -> ResumableWriter:
        if _legacy(state):
            return await self.inner.open(upload_id, offset, state, target)
        if state.get("sealed"):
            return SealedWriter(offset, state)
        upload = _Upload.load(self.keys, state)
        if upload.segments * SEGMENT <= offset <= upload.offset:
            # The row's offset is the truth: tail bytes past it are dropped.
            upload.tail = upload.tail[: offset - upload.segments * SEGMENT]
        else:
            raise envelope.BlobCorrupt(
                f"upload {upload_id}: state holds {upload.offset} bytes, the row {offset}"
            )
        writer = await self.inner.open(upload_id, upload.stored, upload.inner, target)
        return EncryptingWriter(writer, upload, (offset, state))

    async def seal(self, upload_id: str, size: int, state: State) -> State:
        if state.get("sealed"):
            return state
        if _legacy(state):
            return await self.inner.seal(upload_id, size, state)
        upload = _Upload.load(self.keys, state)
        if upload.offset != size:
            raise envelope.BlobCorrupt(f"upload {upload_id}: {upload.offset} bytes, not {size}")
        writer = await self.inner.open(upload_id, upload.stored, upload.inner)
        final = upload.blob.sealer.seal(upload.segments, upload.tail, final=True)
        await writer.write(upload.lead() + final)
        stored, inner = await writer.close()
        upload.stored, upload.tail = stored, b""
        upload.inner = await self.inner.seal(upload_id, stored, inner)
        return upload.state({"sealed": True})

    def _inner_piece(self, piece: Piece) -> Piece:
        return Piece(piece.upload_id, int(piece.state["enc"]["stored"]), piece.state["inner"])

    async def assemble(self, pieces: list[Piece], dest: Path) -> None:
        with open(dest, "wb"):  # noqa: ASYNC230 - truncates the local spool
            pass
        for piece in pieces:
            part = dest.with_name(f"{dest.name}.part")
            try:
                if _legacy(piece.state):
                    await self.inner.assemble([piece], part)
                    await anyio.to_thread.run_sync(_append, part, dest, None)
                elif piece.size:
                    await self.inner.assemble([self._inner_piece(piece)], part)
                    await anyio.to_thread.run_sync(_append, part, dest, Decryptor(self.keys))
            finally:
                part.unlink(missing_ok=True)

    async def adopt(self, pieces: list[Piece], key: str, content_type: str) -> State | None:
        if len(pieces) != 1 or not pieces[0].size or _legacy(pieces[0].state):
            return None  # legacy bytes are stored encrypted from the spool
        piece, inner = pieces[0], self._inner_piece(pieces[0])
        adopted = await self.inner.adopt([inner], key, content_type)
        if adopted is None:
            # Local files: a second name for the upload's file (no copy), moved
            # into place; not decrypted and encrypted again.
            part = self.raw.staging_dir / f"adopt-{uuid.uuid4().hex}"
            try:
                await self.inner.assemble([inner], part)
                await self.raw.put_file(key, part, content_type)
            finally:
                part.unlink(missing_ok=True)
            adopted = inner.state
        return {**piece.state, "inner": adopted, "adopted": True}

    async def discard(self, upload_id: str, state: State) -> None:
        inner = state.get("inner", {}) if "enc" in state else state
        await self.inner.discard(upload_id, inner)

    async def leftovers(self) -> list[Leftover]:
        return await self.inner.leftovers()

    async def remove_leftover(self, leftover: Leftover) -> None:
        await self.inner.remove_leftover(leftover)


def _append(src: Path, dest: Path, decryptor: Decryptor | None) -> None:
    with open(src, "rb") as fin, open(dest, "ab") as fout:
        while chunk := fin.read(1024 * 1024):
            fout.write(decryptor.feed(chunk) if decryptor else chunk)
        if decryptor:
            fout.write(decryptor.finish())
