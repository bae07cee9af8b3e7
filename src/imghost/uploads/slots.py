"""How many upload bodies one user, and one client address, may send at once.

Each body being read holds a worker's attention, a spool file or a multipart
part, and time against the body limits; rate limits count uploads per minute
but not how many are open at the same moment. An upload route takes a slot
for as long as it reads its body; over either cap the request is answered
429 ``too_many_uploads`` with ``Retry-After`` before a byte is read.

The counts live in this process: with several API processes the caps apply
per process (an operator who runs N processes sees at most N times them).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator

from starlette.requests import Request

from imghost.errors import AppError
from imghost.ratelimit.identity import client_address

#: Seconds a refused client is told to wait: an upload body takes seconds to
#: minutes, so asking sooner would mostly be refused again.
RETRY_AFTER = 5


class UploadSlots:
    def __init__(self, per_user: int, per_address: int) -> None:
        self.per_user = per_user
        self.per_address = per_address
        self.users: Counter[str] = Counter()
        self.addresses: Counter[str] = Counter()

    @contextlib.contextmanager
    def hold(self, user_id: str | None, address: str) -> Iterator[None]:
        if user_id is not None and self.users[user_id] >= self.per_user:
            raise _busy(f"You are already sending {self.per_user} uploads at once")
        if self.addresses[address] >= self.per_address:
            raise _busy(f"Your address is already sending {self.per_address} uploads at once")
        if user_id is not None:
            self.users[user_id] += 1
        self.addresses[address] += 1
        try:
            yield
        finally:
            _release(self.addresses, address)
            if user_id is not None:
                _release(self.users, user_id)


def _release(counts: Counter[str], key: str) -> None:
    counts[key] -= 1
    if counts[key] <= 0:
        del counts[key]  # keep the table as small as the uploads in flight


def _busy(what: str) -> AppError:
    return AppError(
        429,
        "too_many_uploads",
        f"{what}; wait until one has finished, then retry.",
        headers={"Retry-After": str(RETRY_AFTER)},
    )


def upload_slot(request: Request, user_id: str | None) -> contextlib.AbstractContextManager[None]:
    """A slot for this request's upload body (see :class:`UploadSlots`)."""
    slots: UploadSlots = request.app.state.upload_slots
    return slots.hold(user_id, client_address(request.scope))
