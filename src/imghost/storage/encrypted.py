"""A blob store that encrypts every blob it writes (``storage.envelope``).

It wraps any store: the inner one keeps stored bytes, callers see plaintext.
A blob says in its first bytes whether it is encrypted, so plaintext blobs
from before encryption was turned on are read as they are until
``imghost keys encrypt-existing`` converts them.

Reads of a part of a blob fetch only the segments it touches. The data key of
a blob read recently is kept (with the blob's stored size) so that a small
read (:meth:`read`, delivery's hot path) costs one request of the inner store,
not three: a blob rewritten since (a new data key) fails its tag, and is read
again with its new header.
"""

from __future__ import annotations

import collections
import logging
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import anyio

from imghost.storage import envelope
from imghost.storage.base import BlobMeta, BlobNotFound, BlobStore
from imghost.storage.envelope import (
    HEADER,
    MAGIC,
    SEGMENT,
    BlobCorrupt,
    BlobKey,
    Decryptor,
    Segments,
    Span,
)
from imghost.storage.keys import KeyEncryptionKeys

log = logging.getLogger(__name__)

#: Data keys of recently read blobs, per process.
CACHED_KEYS = 4096


class HeadRewriter(Protocol):
    async def replace_head(self, key: str, head: bytes) -> None:
        """Overwrite the first ``len(head)`` bytes of blob ``key``, nothing else."""


@dataclass(frozen=True)
class _Known:
    blob: BlobKey
    stored: int  # the blob's stored length

    @property
    def size(self) -> int:
        return envelope.plaintext_size(self.stored)


def encrypt_file(keys: KeyEncryptionKeys, src: Path, dest: Path) -> None:
    """Encrypt the file ``src`` into ``dest`` (a segment at a time: flat memory)."""
    blob = BlobKey.new(keys)
    with open(src, "rb") as fin, open(dest, "wb") as fout:
        fout.write(blob.header.encode())
        index = 0
        segment = fin.read(SEGMENT)
        while True:
            following = fin.read(SEGMENT)
            fout.write(blob.sealer.seal(index, segment, final=not following))
            if not following:
                return
            segment, index = following, index + 1


class EncryptedBlobStore:
    def __init__(self, inner: BlobStore, keys: KeyEncryptionKeys) -> None:
        self.inner = inner
        self.keys = keys
        self.staging_dir = inner.staging_dir
        self._known: collections.OrderedDict[str, _Known] = collections.OrderedDict()

    # -- writing -------------------------------------------------------------

    def _spool(self) -> Path:
        fd, name = tempfile.mkstemp(prefix="enc-", dir=self.staging_dir)
        os.close(fd)
        return Path(name)

    async def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        sealed = self._spool()
        try:
            await anyio.to_thread.run_sync(encrypt_file, self.keys, path, sealed)
            self._forget(key)
            await self.inner.put_file(key, sealed, content_type)
        finally:
            sealed.unlink(missing_ok=True)
            path.unlink(missing_ok=True)  # noqa: ASYNC240 - one metadata op

    async def put_bytes(self, key: str, data: bytes) -> None:
        self._forget(key)
        await self.inner.put_bytes(key, envelope.encrypt(self.keys, data))

    # -- reading -------------------------------------------------------------

    async def get(
        self, key: str, start: int = 0, end: int | None = None, chunk_size: int = 256 * 1024
    ) -> AsyncIterator[bytes]:
        if start == 0 and end is None:
            # The whole blob in one request of the inner store: its first
            # bytes say whether it is encrypted.
            stream = await self.inner.get(key, chunk_size=chunk_size)
            return self._whole(key, stream)
        # Not from the cache: a stale data key would only show once the
        # answer's headers are out.
        known = await self._lookup(key, fresh=True)
        if known is None:
            return await self.inner.get(key, start, end, chunk_size)
        size = known.size
        end = size if end is None else min(end, size)
        if start >= end:
            return _empty()
        span = Span.of(start, end)
        stream = await self.inner.get(
            key, span.stored_start, min(span.stored_end, known.stored), chunk_size
        )
        segments = Segments(known.blob, span.first, span.skip, end - start, whole=False)
        return self._through(key, segments, stream)

    async def _whole(self, key: str, stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        first = bytearray()
        async for chunk in stream:
            first += chunk
            if len(first) >= len(MAGIC):
                break
        if first[: len(MAGIC)] != MAGIC:
            if first:
                yield bytes(first)
            async for chunk in stream:
                yield chunk
            return
        async for plain in self._through(key, Decryptor(self.keys), stream, bytes(first)):
            yield plain

    async def _through(
        self,
        key: str,
        decoder: Decryptor | Segments,
        stream: AsyncIterator[bytes],
        first: bytes = b"",
    ) -> AsyncIterator[bytes]:
        """``stream``'s plaintext (after ``first``, bytes already read from it)."""
        try:
            if plain := decoder.feed(first):
                yield plain
            async for chunk in stream:
                if plain := decoder.feed(chunk):
                    yield plain
            if plain := decoder.finish():
                yield plain
        except BlobCorrupt as exc:
            self._forget(key)
            raise self._corrupt(key, exc) from exc

    async def read(self, key: str, start: int, end: int) -> bytes:
        for attempt in (1, 2):
            known = await self._lookup(key)
            if known is None:
                return await self.inner.read(key, start, end)
            end = min(end, known.size)
            if start >= end:
                return b""
            span = Span.of(start, end)
            stored = await self.inner.read(
                key, span.stored_start, min(span.stored_end, known.stored)
            )
            segments = Segments(known.blob, span.first, span.skip, end - start, whole=False)
            try:
                return segments.feed(stored) + segments.finish()
            except BlobCorrupt as exc:
                # A data key from the cache may be the blob's previous one.
                self._forget(key)
                if attempt == 1:
                    continue
                raise self._corrupt(key, exc) from exc
        raise AssertionError("unreachable")

    async def read_all(self, key: str) -> bytes:
        data = await self.inner.read_all(key)
        if not envelope.is_encrypted(data):
            return data
        decryptor = Decryptor(self.keys)
        try:
            return decryptor.feed(data) + decryptor.finish()
        except BlobCorrupt as exc:
            raise self._corrupt(key, exc) from exc

    async def download(self, key: str, path: Path) -> None:
        stream = await self.get(key, chunk_size=1024 * 1024)
        with open(path, "wb") as fh:  # noqa: ASYNC230 - local temp file, chunked writes
            async for chunk in stream:
                fh.write(chunk)

    async def head(self, key: str) -> BlobMeta | None:
        meta = await self.inner.head(key)
        if meta is None:
            return None
        try:
            known = await self._lookup(key, fresh=True)
        except BlobNotFound:
            return None
        if known is None:
            return meta
        return BlobMeta(key, known.size, meta.last_modified)

    async def is_encrypted(self, key: str) -> bool:
        return envelope.is_encrypted(await self.inner.read(key, 0, len(MAGIC)))

    async def _lookup(self, key: str, fresh: bool = False) -> _Known | None:
        """The blob's data key and stored size, or None for a plaintext blob;
        ``fresh``: read from the store, not the cache (which it then updates)."""
        known = None if fresh else self._known.get(key)
        if known is not None:
            self._known.move_to_end(key)
            return known
        meta = await self.inner.head(key)
        if meta is None:
            raise BlobNotFound(key)
        head = await self.inner.read(key, 0, min(HEADER, meta.size))
        if not envelope.is_encrypted(head):
            return None  # plaintext is never cached: it may be encrypted any time
        try:
            known = _Known(BlobKey.open(self.keys, head), meta.size)
        except BlobCorrupt as exc:
            raise self._corrupt(key, exc) from exc
        self._known[key] = known
        if len(self._known) > CACHED_KEYS:
            self._known.popitem(last=False)
        return known

    def _forget(self, key: str) -> None:
        self._known.pop(key, None)

    def _corrupt(self, key: str, exc: BlobCorrupt) -> BlobCorrupt:
        log.error("blob %s cannot be decrypted: %s", key, exc)
        return BlobCorrupt(f"blob {key}: {exc}")

    # -- the rest ------------------------------------------------------------

    async def delete(self, key: str) -> None:
        self._forget(key)
        await self.inner.delete(key)

    def list(self, prefix: str = "") -> AsyncIterator[BlobMeta]:
        # Sizes are the stored ones: gc and listings of the store need only keys and ages.
        return self.inner.list(prefix)

    async def presign_put(self, key: str, expires_in: int, size: int | None = None) -> str | None:
        # The client's bytes land as they are (plaintext) at an upload key;
        # finalizing validates them and stores them encrypted as the image.
        return await self.inner.presign_put(key, expires_in, size)

    async def presign_get(self, key: str, expires_in: int) -> str | None:
        return None  # the store holds ciphertext: the app decrypts and serves

    async def close(self) -> None:
        await self.inner.close()

    # -- keys ------------------------------------------------------------------

    async def rewrap(self, key: str) -> bool:
        """Wrap the blob's data key under the current key-encryption key
        (the data is not touched); False if it is plaintext or wrapped so already."""
        head = await self.inner.read(key, 0, HEADER)
        if not envelope.is_encrypted(head):
            return False
        header = envelope.Header.decode(head)
        if header.kid == self.keys.current:
            return False
        data_key = self.keys.unwrap(header.kid, header.wrapped)
        kid, wrapped = self.keys.wrap(data_key)
        rewriter: HeadRewriter = self.inner  # type: ignore[assignment]  # local and S3 both can
        await rewriter.replace_head(key, envelope.Header(kid, wrapped).encode())
        self._forget(key)
        return True

    async def encrypt_existing(self, key: str) -> bool:
        """Encrypt a plaintext blob in place; False if it is encrypted already.

        The blob is replaced whole (a reader sees the old or the new one), and
        only if it is unchanged since it was read."""
        before = await self.inner.head(key)
        if before is None or await self.is_encrypted(key):
            return False
        plain, sealed = self._spool(), self._spool()
        try:
            await self.inner.download(key, plain)
            await anyio.to_thread.run_sync(encrypt_file, self.keys, plain, sealed)
            if await self.inner.head(key) != before:
                return False  # rewritten meanwhile (by an encrypting writer)
            await self.inner.put_file(key, sealed)
        finally:
            plain.unlink(missing_ok=True)
            sealed.unlink(missing_ok=True)
        self._forget(key)
        return True


async def _empty() -> AsyncIterator[bytes]:
    return
    yield  # pragma: no cover - makes this an async generator
