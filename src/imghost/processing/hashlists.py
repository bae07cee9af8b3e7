"""Operators' lists of known-bad hashes, and matching an image against them.

Two lists, each a file named by a setting (docs/OPERATIONS.md, "Hash lists"):

- ``IMGHOST_HASHLIST_SHA256``: exact SHA-256 of originals, 64 hex digits a line;
- ``IMGHOST_HASHLIST_PDQ``: PDQ perceptual hashes, 64 hex digits a line,
  optionally followed by ``,quality`` (the ThreatExchange CSV shape); an image
  matches within ``IMGHOST_HASHLIST_PDQ_DISTANCE`` bits.

``#`` starts a comment, blank lines are skipped. The PDQ list is held as an
``(N, 4)`` array of uint64: one match is an XOR and a popcount over the whole
array (10,000 entries: well under a millisecond), no per-entry Python.

Reload without a restart: each worker stats the files at most every
``IMGHOST_HASHLIST_RELOAD_CHECK`` seconds and re-reads one whose mtime, size or
inode changed (an edit in place or a new file moved over it). A file that no
longer parses keeps the list loaded before, with an error in the log, so a
half-written file never empties a list; start-up refuses one
(``processing.config``), naming the file and line.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

SHA256, PDQ = "sha256", "pdq"
T = TypeVar("T")
_HEX = frozenset("0123456789abcdef")


class HashListError(ValueError):
    """A list file that cannot be used; the message names the file and line."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(f"{path}{message}")
        self.path = path


@dataclass(frozen=True)
class Match:
    """A listed hash an image matched: which list (``sha256`` or ``pdq``), the
    list file's name, the entry's line, and the Hamming distance (0 for sha256)."""

    list: str
    file: str
    line: int
    distance: int

    def describe(self) -> str:
        if self.list == SHA256:
            return f"the SHA-256 list {self.file} (line {self.line}): an exact match"
        return f"the PDQ list {self.file} (line {self.line}): {self.distance} of 256 bits differ"


def _hex_of(text: str, path: Path, number: int, what: str) -> str:
    value = text.strip().lower()
    if len(value) != 64 or not set(value) <= _HEX:
        raise HashListError(
            path, f", line {number}: expected {what} as 64 hex digits, got {text.strip()[:80]!r}"
        )
    return value


def _lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of each entry: comments and blank lines dropped."""
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HashListError(path, f": cannot be read: {exc}") from exc
    found = []
    for number, line in enumerate(raw.splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if text:
            found.append((number, text))
    return found


@dataclass(frozen=True)
class Sha256List:
    file: str
    lines: dict[str, int]  # hash → its (first) line

    @classmethod
    def load(cls, path: Path) -> Sha256List:
        lines: dict[str, int] = {}
        for number, text in _lines(path):
            lines.setdefault(_hex_of(text, path, number, "a SHA-256"), number)
        return cls(path.name, lines)

    def match(self, sha256: str) -> Match | None:
        line = self.lines.get(sha256.lower())
        return None if line is None else Match(SHA256, self.file, line, 0)


def pack(hex_hash: str) -> npt.NDArray[np.uint64]:
    """64 hex digits as 4 uint64 words (big-endian: the hex's order)."""
    return np.frombuffer(bytes.fromhex(hex_hash), dtype=">u8").astype(np.uint64)


@dataclass(frozen=True)
class PdqList:
    file: str
    words: npt.NDArray[np.uint64]  # (N, 4)
    line_numbers: npt.NDArray[np.int64]  # (N,)

    @classmethod
    def load(cls, path: Path) -> PdqList:
        hashes: list[bytes] = []
        numbers: list[int] = []
        for number, text in _lines(path):
            # "hash", "hash,quality" (ThreatExchange's CSV) or "hash quality"
            parts = text.replace(",", " ").split()
            digits = _hex_of(parts[0], path, number, "a PDQ hash")
            if len(parts) > 2 or (len(parts) == 2 and not _is_quality(parts[1])):
                raise HashListError(
                    path,
                    f", line {number}: expected a PDQ hash and at most a quality "
                    f"(0-100) after it, got {text[:80]!r}",
                )
            hashes.append(bytes.fromhex(digits))
            numbers.append(number)
        words = np.frombuffer(b"".join(hashes), dtype=">u8").astype(np.uint64).reshape(-1, 4)
        return cls(path.name, words, np.asarray(numbers, dtype=np.int64))

    def __len__(self) -> int:
        return int(self.words.shape[0])

    def nearest(self, hex_hash: str) -> tuple[int, int] | None:
        """(distance, index) of the closest entry; None for an empty list."""
        if not len(self):
            return None
        distances = np.bitwise_count(self.words ^ pack(hex_hash)).sum(axis=1, dtype=np.int64)
        index = int(distances.argmin())
        return int(distances[index]), index

    def match(self, hex_hash: str, threshold: int) -> Match | None:
        found = self.nearest(hex_hash)
        if found is None or found[0] > threshold:
            return None
        distance, index = found
        return Match(PDQ, self.file, int(self.line_numbers[index]), distance)


def _is_quality(text: str) -> bool:
    return text.isdigit() and 0 <= int(text) <= 100


@dataclass
class _Watched(Generic[T]):
    """One list file, its parsed value and what its last stat said."""

    path: Path
    loader: Callable[[Path], T]
    value: T
    stamp: tuple[int, int, int]

    def refresh(self) -> None:
        try:
            stamp = _stamp(self.path)
        except OSError as exc:
            log.error("hash list %s cannot be read (the loaded list stays): %s", self.path, exc)
            return
        if stamp == self.stamp:
            return
        try:
            value = self.loader(self.path)
        except HashListError as exc:
            log.error("hash list not reloaded (the loaded list stays): %s", exc)
            self.stamp = stamp  # said once per change, not at every check
            return
        self.value, self.stamp = value, stamp
        log.info("hash list %s reloaded", self.path)


def _stamp(path: Path) -> tuple[int, int, int]:
    found = os.stat(path)
    return found.st_mtime_ns, found.st_size, found.st_ino


def _watch(path: Path, loader: Callable[[Path], T]) -> _Watched[T]:
    try:
        stamp = _stamp(path)  # before the read: a write in between is seen next time
    except OSError as exc:
        raise HashListError(path, f": cannot be read: {exc}") from exc
    return _Watched(path, loader, loader(path), stamp)


@dataclass
class HashLists:
    """The configured lists of one process, reloaded when their files change.

    ``match_sha256`` and ``match_pdq`` are cheap and thread-safe; the reload
    check they run is a stat per file at most every ``check_every`` seconds."""

    sha256: _Watched[Sha256List] | None
    pdq: _Watched[PdqList] | None
    pdq_distance: int
    check_every: float
    clock: Callable[[], float] = time.monotonic
    _next_check: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def open(
        cls, sha256_path: str, pdq_path: str, pdq_distance: int, check_every: float
    ) -> HashLists | None:
        """The lists the settings name, loaded; None when none is set.
        Raises HashListError (naming file and line) for one that cannot be used."""
        if not sha256_path and not pdq_path:
            return None
        lists = cls(
            sha256=_watch(Path(sha256_path), Sha256List.load) if sha256_path else None,
            pdq=_watch(Path(pdq_path), PdqList.load) if pdq_path else None,
            pdq_distance=pdq_distance,
            check_every=check_every,
        )
        lists._next_check = lists.clock() + check_every
        return lists

    def _refresh(self) -> None:
        with self._lock:
            now = self.clock()
            if now < self._next_check:
                return
            self._next_check = now + self.check_every
            for watched in (self.sha256, self.pdq):
                if watched is not None:
                    watched.refresh()

    @property
    def has_pdq(self) -> bool:
        return self.pdq is not None

    def match_sha256(self, sha256: str) -> Match | None:
        self._refresh()
        return None if self.sha256 is None else self.sha256.value.match(sha256)

    def match_pdq(self, hex_hash: str) -> Match | None:
        self._refresh()
        return None if self.pdq is None else self.pdq.value.match(hex_hash, self.pdq_distance)
