"""Shared by the quota tests: a server with a small quota, usage, stored keys."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import select

from imghost.context import AppContext
from imghost.quotas.models import QuotaReservation, StorageUsage
from tests.conftest import LiveServer
from tests.factories import UserHandle
from tests.helpers.context import with_ctx


@contextmanager
def server(settings_factory: Any, **overrides: Any) -> Iterator[tuple[LiveServer, httpx.Client]]:
    with (
        LiveServer(settings_factory(**overrides)) as live,
        httpx.Client(base_url=live.url, timeout=60) as client,
    ):
        yield live, client


def usage(client: httpx.Client, user: UserHandle) -> dict[str, Any]:
    r = client.get("/v1/users/me/usage", headers=user.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def org_usage(client: httpx.Client, user: UserHandle, org_id: str) -> dict[str, Any]:
    r = client.get(f"/v1/orgs/{org_id}/usage", headers=user.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def stored(live: LiveServer, prefix: str = "") -> dict[str, int]:
    """Every key in the blob store under ``prefix``, with its size."""

    async def read(ctx: AppContext) -> dict[str, int]:
        return {m.key: m.size async for m in ctx.store.list(prefix)}

    return with_ctx(live.settings, read)


def originals(live: LiveServer) -> list[str]:
    return [k for k in stored(live) if k.endswith("/original")]


def reservations(live: LiveServer) -> list[tuple[str, str, int]]:
    async def read(ctx: AppContext) -> list[tuple[str, str, int]]:
        async with ctx.sessions() as session:
            rows = await session.execute(
                select(QuotaReservation.id, QuotaReservation.account_id, QuotaReservation.bytes)
            )
            return [(a, b, int(c)) for a, b, c in rows]

    return with_ctx(live.settings, read)


def usage_row(live: LiveServer, account_id: str) -> StorageUsage | None:
    async def read(ctx: AppContext) -> StorageUsage | None:
        async with ctx.sessions() as session:
            return await session.get(StorageUsage, account_id)

    return with_ctx(live.settings, read)


def presign(client: httpx.Client, user: UserHandle, data: bytes) -> httpx.Response:
    return client.post(
        "/v1/uploads",
        headers=user.headers,
        json={"filename": "p.jpg", "size": len(data), "contentType": "image/jpeg"},
    )


def put_presigned(created: httpx.Response, data: bytes) -> str:
    assert created.status_code == 201, created.text
    up = created.json()
    assert httpx.put(up["presignedUrl"], content=data, timeout=30).status_code == 200
    return str(up["uploadId"])
