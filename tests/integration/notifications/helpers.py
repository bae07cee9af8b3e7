"""Shared by the notification tests."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.factories import UserHandle


def share_image(client: httpx.Client, owner: UserHandle, image_id: str, user_id: str) -> None:
    r = client.put(
        f"/v1/images/{image_id}/collaborators/{user_id}",
        json={"permission": "view"},
        headers=owner.headers,
    )
    assert r.status_code == 200, r.text


def notifications(client: httpx.Client, user: UserHandle, **params: Any) -> dict[str, Any]:
    r = client.get("/v1/notifications", params=params, headers=user.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def wait_until(predicate: Any, timeout: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} not reached after {timeout}s"
        time.sleep(0.05)
