"""The in-process view counter: delivery's only analytics cost is a dict update.

Counts are keyed by (image, UTC day) and (owner, UTC day). ``drain`` hands
the whole buffer to the flusher and starts a fresh one; a failed write gives
the batch back with ``merge`` so nothing is lost short of a crash.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["view", "download"]

_EPOCH = dt.date(1970, 1, 1)
_DAY_SECONDS = 86_400


def day_of(epoch_day: int) -> dt.date:
    return _EPOCH + dt.timedelta(days=epoch_day)


@dataclass
class ImageCounts:
    views: int = 0
    downloads: int = 0
    bandwidth_bytes: int = 0

    def add(self, other: ImageCounts) -> None:
        self.views += other.views
        self.downloads += other.downloads
        self.bandwidth_bytes += other.bandwidth_bytes


@dataclass
class Batch:
    """What one drain took: counts per (image id, epoch day) and (owner id, epoch day)."""

    images: dict[tuple[str, int], ImageCounts] = field(default_factory=dict)
    owners: dict[tuple[str, int], int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.images or self.owners)


class ViewCounter:
    """Thread- and task-safe: one short lock around each update and the swap.

    The lock is uncontended in the usual single-event-loop process; it is there
    so threads (tests, thread-pool code) can record too without lost updates.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._batch = Batch()

    def record(self, image_id: str, owner_id: str, kind: Kind | None, nbytes: int) -> None:
        """Count one served body. ``kind=None`` adds only its bytes (a resumed range)."""
        day = int(self._clock()) // _DAY_SECONDS
        with self._lock:
            images, owners = self._batch.images, self._batch.owners
            counts = images.get((image_id, day))
            if counts is None:
                counts = images[(image_id, day)] = ImageCounts()
            if kind == "view":
                counts.views += 1
            elif kind == "download":
                counts.downloads += 1
            counts.bandwidth_bytes += nbytes
            owners[(owner_id, day)] = owners.get((owner_id, day), 0) + nbytes

    def drain(self) -> Batch:
        """Take everything counted so far; later records go to a fresh buffer."""
        with self._lock:
            batch, self._batch = self._batch, Batch()
        return batch

    def merge(self, batch: Batch) -> None:
        """Give back a batch that could not be written (counted again next flush)."""
        with self._lock:
            images, owners = self._batch.images, self._batch.owners
            for key, counts in batch.images.items():
                if (mine := images.get(key)) is None:
                    images[key] = counts
                else:
                    mine.add(counts)
            for key, nbytes in batch.owners.items():
                owners[key] = owners.get(key, 0) + nbytes

    def pending(self) -> int:
        """Buffered (image, day) entries: for logs and tests."""
        with self._lock:
            return len(self._batch.images)
