"""Password checks beyond the slots and the queue are refused at once (503
with Retry-After) instead of waiting behind a flood."""

from __future__ import annotations

import threading

import anyio
import pytest

from imghost.auth import passwords
from imghost.concurrency import SLOTS
from imghost.errors import AppError


def test_a_full_queue_refuses_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "max_queue", 2)
    release = threading.Event()

    def stuck(password: str) -> str:
        release.wait(30)
        return "hash"

    monkeypatch.setattr(passwords, "_hash", stuck)

    async def main() -> None:
        async with anyio.create_task_group() as group:
            for _ in range(SLOTS + 2):  # every slot busy, the queue full
                group.start_soon(passwords.hash_password, "pw")
            await anyio.wait_all_tasks_blocked()
            with anyio.fail_after(5), pytest.raises(AppError) as refused:
                await passwords.verify_password(None, "pw")
            release.set()
        assert refused.value.status == 503 and refused.value.code == "server_busy"
        assert refused.value.headers["Retry-After"] == "1"
        # Once the flood is through, checks run again.
        assert await passwords.verify_password(None, "pw") is False

    anyio.run(main)


def test_each_cost_verifies_the_others_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hash carries its parameters: switching the cost locks nobody out, and
    a login at the standard cost rehashes what the minimal one made."""
    monkeypatch.setattr(passwords, "_hasher", passwords.HASHERS["standard"])

    async def main() -> None:
        passwords.set_cost("minimal")
        cheap = await passwords.hash_password("pw")
        assert await passwords.verify_password(cheap, "pw") is True
        # The decoy of unknown accounts is made at the same cost as real hashes.
        assert await passwords.verify_password(None, "pw") is False
        assert "$m=8,t=1,p=1$" in passwords._decoy_hash(passwords.HASHERS["minimal"])
        passwords.set_cost("standard")
        assert await passwords.verify_password(cheap, "pw") is True
        assert await passwords.verify_password(cheap, "other") is False
        assert passwords.needs_rehash(cheap) is True
        assert passwords.needs_rehash(await passwords.hash_password("pw")) is False

    anyio.run(main)
