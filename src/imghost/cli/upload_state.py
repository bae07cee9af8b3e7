"""Remembered tus upload URLs, so `imghost upload` resumes across runs.

An entry is keyed by the server, the file's absolute path, size, mtime and a
content fingerprint (sha256 of the size and the first and last 64 KiB): a file
that was edited, replaced or merely touched starts a fresh upload rather than
appending new bytes to an old prefix. Entries are removed once their upload
has finished (or failed for good); ones untouched for 30 days are pruned,
since the server has long collected those uploads.

Every change re-reads the file and writes it atomically under two locks: a
thread lock for the parallel uploads of one run and an advisory ``flock`` for
two runs at once, so neither loses the other's entries.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from imghost.cli.config import config_dir, read_json, write_json_atomic

STATE_FILE = "uploads.json"
EDGE = 64 * 1024
MAX_AGE = 30 * 86400


def fingerprint(path: Path, size: int) -> str:
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as f:
        digest.update(f.read(EDGE))
        if size > EDGE:
            f.seek(max(EDGE, size - EDGE))
            digest.update(f.read(EDGE))
    return digest.hexdigest()


def state_key(server: str, path: Path) -> str:
    """The key for ``path``'s current contents on ``server``."""
    path = path.resolve()
    st = path.stat()
    parts = (server, str(path), str(st.st_size), str(st.st_mtime_ns), fingerprint(path, st.st_size))
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


class UploadState:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or config_dir() / STATE_FILE
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        entry = self._load().get(key)
        url = entry.get("url") if isinstance(entry, dict) else None
        return url if isinstance(url, str) else None

    def put(self, key: str, url: str, path: Path) -> None:
        with self._locked() as entries:
            entries[key] = {"url": url, "path": str(path.resolve()), "updatedAt": int(time.time())}

    def drop(self, key: str) -> None:
        with self._locked() as entries:
            entries.pop(key, None)

    def _load(self) -> dict[str, Any]:
        data = read_json(self.path) or {}
        entries = data.get("uploads")
        return entries if isinstance(entries, dict) else {}

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock_path = self.path.with_name(f".{self.path.name}.lock")
        with self._lock, open(lock_path, "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                entries = self._load()
                before = dict(entries)
                yield entries
                cutoff = time.time() - MAX_AGE
                for key, entry in list(entries.items()):
                    if not isinstance(entry, dict) or entry.get("updatedAt", 0) < cutoff:
                        del entries[key]
                if entries != before:
                    write_json_atomic(self.path, {"version": 1, "uploads": entries})
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)
