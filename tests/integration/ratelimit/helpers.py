"""Helpers for rate-limit tests: two app instances on one database, rows changed directly."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx

from imghost.settings import Settings
from tests.conftest import LiveServer
from tests.factories import UserHandle, image_bytes, upload_ok


@contextlib.contextmanager
def two_instances(settings: Settings) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """Two apps (each its own process-local state) over the same database and blobs."""
    with (
        LiveServer(settings) as a,
        LiveServer(settings) as b,
        httpx.Client(base_url=a.url, timeout=60) as ca,
        httpx.Client(base_url=b.url, timeout=60) as cb,
    ):
        yield ca, cb


def public_image(client: httpx.Client, user: UserHandle) -> str:
    body: dict[str, Any] = upload_ok(
        client, user, data=image_bytes(size=(32, 24)), visibility="public"
    )
    return str(body["imageId"])


def rl_headers(r: httpx.Response) -> tuple[int, int, int]:
    """(limit, remaining, reset) from the RateLimit-* headers."""
    return (
        int(r.headers["RateLimit-Limit"]),
        int(r.headers["RateLimit-Remaining"]),
        int(r.headers["RateLimit-Reset"]),
    )
