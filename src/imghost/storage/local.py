"""Blob store on the local filesystem.

Writes are atomic and durable: bytes go to a temp file in the store's staging
directory, are fsynced, renamed into place, and the directory is fsynced, so a
crash leaves either the whole blob or none of it.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

import anyio

from imghost.storage.base import BlobMeta, BlobNotFound, check_key


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.staging_dir = self.root / ".staging"
        self.staging_dir.mkdir(parents=True, exist_ok=True)

    def path_for(self, key: str) -> Path:
        return self.root / check_key(key)

    def _install(self, tmp: Path, key: str) -> None:
        dest = self.path_for(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        try:
            os.replace(tmp, dest)
        except OSError:
            # Different filesystem: copy next to the destination, then rename.
            staged = dest.parent / f".{uuid.uuid4().hex}.tmp"
            shutil.copyfile(tmp, staged)
            with open(staged, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(staged, dest)
            tmp.unlink(missing_ok=True)
        _fsync_dir(dest.parent)

    async def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        await anyio.to_thread.run_sync(self._install, path, key)

    def _put_bytes(self, key: str, data: bytes) -> None:
        tmp = self.staging_dir / uuid.uuid4().hex
        try:
            tmp.write_bytes(data)
            self._install(tmp, key)
        finally:
            tmp.unlink(missing_ok=True)

    async def put_bytes(self, key: str, data: bytes) -> None:
        await anyio.to_thread.run_sync(self._put_bytes, key, data)

    async def get(
        self, key: str, start: int = 0, end: int | None = None, chunk_size: int = 256 * 1024
    ) -> AsyncIterator[bytes]:
        path = self.path_for(key)
        # Missing blobs fail here, before a response starts. The file itself is
        # opened by the generator: one that is dropped before its first step
        # never runs its ``finally``, and a file opened here would be left to
        # the garbage collector.
        if not await anyio.to_thread.run_sync(path.is_file):
            raise BlobNotFound(key)
        return self._iter(key, path, start, end, chunk_size)

    async def _iter(
        self, key: str, path: Path, start: int, end: int | None, chunk_size: int
    ) -> AsyncIterator[bytes]:
        try:
            fh: BinaryIO = await anyio.to_thread.run_sync(open, path, "rb")
        except FileNotFoundError as exc:  # removed since get() looked
            raise BlobNotFound(key) from exc
        try:
            position = start
            while end is None or position < end:
                want = chunk_size if end is None else min(chunk_size, end - position)
                chunk = await anyio.to_thread.run_sync(os.pread, fh.fileno(), want, position)
                if not chunk:
                    break
                position += len(chunk)
                yield chunk
        finally:
            fh.close()

    def _read(self, key: str, start: int, end: int) -> bytes:
        try:
            fd = os.open(self.path_for(key), os.O_RDONLY)
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc
        try:
            return os.pread(fd, end - start, start)
        finally:
            os.close(fd)

    async def read(self, key: str, start: int, end: int) -> bytes:
        # One thread hand-off for open + read + close: the hot path for small images.
        return await anyio.to_thread.run_sync(self._read, key, start, end)

    async def read_all(self, key: str) -> bytes:
        def _read() -> bytes:
            try:
                return self.path_for(key).read_bytes()
            except FileNotFoundError as exc:
                raise BlobNotFound(key) from exc

        return await anyio.to_thread.run_sync(_read)

    async def download(self, key: str, path: Path) -> None:
        src = self.path_for(key)
        try:
            await anyio.to_thread.run_sync(shutil.copyfile, src, path)
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc

    async def head(self, key: str) -> BlobMeta | None:
        try:
            st = await anyio.to_thread.run_sync(os.stat, self.path_for(key))
        except FileNotFoundError:
            return None
        return BlobMeta(key, st.st_size, dt.datetime.fromtimestamp(st.st_mtime, dt.UTC))

    async def delete(self, key: str) -> None:
        await anyio.to_thread.run_sync(self._delete, key)

    def _delete(self, key: str) -> None:
        path = self.path_for(key)
        path.unlink(missing_ok=True)
        # Prune now-empty parent directories up to the root.
        parent = path.parent
        while parent != self.root:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    async def list(self, prefix: str = "") -> AsyncIterator[BlobMeta]:
        # Walk only the folder the prefix names ("u_1/img_2/" → that folder),
        # not the whole store.
        folder, _, _ = prefix.rpartition("/")
        start = self.root / folder if folder and ".." not in folder.split("/") else self.root

        def _walk() -> list[BlobMeta]:
            found = []
            for dirpath, dirnames, filenames in os.walk(start):
                if Path(dirpath) == self.root:
                    # Spool files and resumable uploads are not blobs.
                    dirnames[:] = [d for d in dirnames if d not in (".staging", ".tus")]
                for name in filenames:
                    full = Path(dirpath) / name
                    key = full.relative_to(self.root).as_posix()
                    if name.startswith(".") or not key.startswith(prefix):
                        continue
                    try:
                        st = full.stat()
                    except FileNotFoundError:
                        continue  # deleted while we walked (a purge, gc): not there
                    found.append(
                        BlobMeta(key, st.st_size, dt.datetime.fromtimestamp(st.st_mtime, dt.UTC))
                    )
            return found

        for meta in await anyio.to_thread.run_sync(_walk):
            yield meta

    def _replace_head(self, key: str, head: bytes) -> None:
        fd = os.open(self.path_for(key), os.O_WRONLY)
        try:
            os.pwrite(fd, head, 0)
            os.fsync(fd)
        finally:
            os.close(fd)

    async def replace_head(self, key: str, head: bytes) -> None:
        """Overwrite the blob's first bytes in place (a key rotation rewrites
        an encrypted blob's header and nothing else)."""
        try:
            await anyio.to_thread.run_sync(self._replace_head, key, head)
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc

    async def presign_put(self, key: str, expires_in: int, size: int | None = None) -> str | None:
        return None

    async def presign_get(self, key: str, expires_in: int) -> str | None:
        return None

    async def close(self) -> None:
        return None
