"""What each process remembers about the images it serves, for a bounded time.

A view needs an image's delivery facts (visibility, status, blob key...). Reading
them costs a database round trip that dominates a cached view, so each process
keeps the facts of the images it served last, at most ``ttl`` seconds and
``capacity`` entries (oldest out first).

A change made through this process forgets the changed images at its commit
(``images.changes`` reports them). A change made through another process
reaches this one when the entry expires: ``ttl`` is the longest a process may go
on serving an image that has stopped being public (IMGHOST_DELIVERY_FACTS_TTL,
documented in docs/OPERATIONS.md). Unknown ids and images not ``ready`` are not
remembered: an id that does not exist yet may exist a moment later, and an
image being processed becomes ready in another process.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from imghost import metrics
from imghost.images.services import DeliveryFacts


class FactsCache:
    def __init__(
        self, ttl: float, capacity: int = 50_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.capacity = capacity
        self.clock = clock
        self._entries: OrderedDict[str, tuple[float, DeliveryFacts]] = OrderedDict()

    def get(self, image_id: str) -> DeliveryFacts | None:
        entry = self._entries.get(image_id)
        if entry is None:
            metrics.cache_lookup("facts", False)
            return None
        if entry[0] <= self.clock():
            del self._entries[image_id]
            metrics.cache_lookup("facts", False)
            return None
        metrics.cache_lookup("facts", True)
        return entry[1]

    def put(self, facts: DeliveryFacts) -> None:
        # Only ready images: views are of them, and an image still processing
        # (in a worker, another process) must be served the moment it is ready.
        if self.ttl <= 0 or facts.status != "ready":
            return
        self._entries[facts.id] = (self.clock() + self.ttl, facts)
        self._entries.move_to_end(facts.id)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def forget(self, image_ids: Iterable[str] | None) -> None:
        """Drop these images, or every image when ``None`` (a change whose rows are unknown)."""
        if image_ids is None:
            self._entries.clear()
            return
        for image_id in image_ids:
            self._entries.pop(image_id, None)
