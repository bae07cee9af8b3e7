"""Fair admission to upload validation: one user can never starve another.

Checking an upload takes one of a few shared slots (one per pixel process).
Each user may hold at most ``per_user`` of them; a user's further uploads wait
in that user's own queue, and a freed slot goes to the next user in
round-robin order, not to whoever queued first. So a user with ten hostile
uploads queued delays another user's upload by at most one slot's time (the
validation time budget). The queues are bounded: past a user's bound the
answer is 429 ``validation_busy``, past the total bound 503 ``server_busy``,
both with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from imghost.errors import AppError


class FairGate:
    def __init__(
        self, slots: int, per_user: int, queue_per_user: int, queue_total: int, retry_after: float
    ) -> None:
        self.slots = max(slots, 1)
        self.per_user = max(per_user, 1)
        self.queue_per_user = queue_per_user
        self.queue_total = queue_total
        self.retry_after = str(max(math.ceil(retry_after), 1))
        self._free = self.slots
        self._running: dict[str, int] = {}
        # Per user, the futures of its waiting callers, oldest first; the dict's
        # order is the round-robin order (a served user moves to the end).
        self._waiting: dict[str, deque[asyncio.Future[None]]] = {}

    @property
    def queued(self) -> int:
        return sum(len(q) for q in self._waiting.values())

    def running(self, user: str) -> int:
        return self._running.get(user, 0)

    @asynccontextmanager
    async def admit(self, user: str) -> AsyncIterator[None]:
        """Hold a validation slot for ``user`` (waiting fairly for one)."""
        # Others may be waiting with slots free only when their own cap holds
        # them back: then this user may go, unless it has older waiters itself.
        if self._free > 0 and self.running(user) < self.per_user and user not in self._waiting:
            self._grant(user)
        else:
            await self._wait(user)
        try:
            yield
        finally:
            self._release(user)

    def _grant(self, user: str) -> None:
        self._free -= 1
        self._running[user] = self.running(user) + 1

    async def _wait(self, user: str) -> None:
        queue = self._waiting.get(user)
        if queue is not None and len(queue) >= self.queue_per_user:
            raise AppError(
                429,
                "validation_busy",
                f"You have {len(queue)} uploads waiting to be checked already; "
                "send this one when they are done.",
                headers={"Retry-After": self.retry_after},
            )
        if self.queued >= self.queue_total:
            raise AppError(
                503,
                "server_busy",
                "Too many uploads are waiting to be checked right now; try again shortly.",
                headers={"Retry-After": self.retry_after},
            )
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(user, deque()).append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._release(user)  # granted, then cancelled before it ran
            else:
                self._forget(user, waiter)
            raise

    def _forget(self, user: str, waiter: asyncio.Future[None]) -> None:
        queue = self._waiting.get(user)
        if queue is not None and waiter in queue:
            queue.remove(waiter)
            if not queue:
                del self._waiting[user]

    def _release(self, user: str) -> None:
        self._free += 1
        left = self.running(user) - 1
        if left > 0:
            self._running[user] = left
        else:
            self._running.pop(user, None)
        self._dispatch()

    def _dispatch(self) -> None:
        """Hand free slots to waiting users: first to whoever runs the fewest
        now, ties in round-robin order (a served user goes to the back)."""
        while self._free > 0:
            eligible = [u for u in self._waiting if self.running(u) < self.per_user]
            if not eligible:
                return
            user = min(eligible, key=self.running)  # min() keeps the first of a tie
            queue = self._waiting.pop(user)
            waiter = queue.popleft()
            if queue:
                self._waiting[user] = queue  # to the back of the round
            if waiter.done():  # cancelled; its task has not run its cleanup yet
                continue
            self._grant(user)
            waiter.set_result(None)
