"""Quota warnings reach the user (and an org's owners and admins) once per
crossing, and again only after usage fell below the threshold."""

from __future__ import annotations

from typing import Any

import httpx

from imghost.context import AppContext
from imghost.images.models import Image
from imghost.quotas import usage as quota_usage
from tests.conftest import LiveServer
from tests.factories import UserHandle, image_bytes, make_user, upload
from tests.helpers.context import with_ctx
from tests.helpers.orgs import join, team
from tests.integration.quotas.helpers import server, usage_row

DATA = image_bytes(size=(64, 48))
SIZE = len(DATA)


def warnings(client: httpx.Client, user: UserHandle) -> list[dict[str, Any]]:
    r = client.get("/v1/notifications", headers=user.headers, params={"limit": 100})
    assert r.status_code == 200, r.text
    return [n for n in r.json()["notifications"] if n["kind"] == "quota.warning"]


def purge(live: LiveServer, image_id: str) -> None:
    async def work(ctx: AppContext) -> None:
        async with ctx.sessions() as session:
            image = await session.get(Image, image_id)
            assert image is not None
            await quota_usage.image_purged(session, image)
            await session.commit()

    with_ctx(live.settings, work)


def put(client: httpx.Client, user: UserHandle, **fields: str) -> str:
    r = upload(client, user, data=DATA, **fields)
    assert r.status_code == 201, r.text
    return str(r.json()["imageId"])


def test_each_threshold_warns_once_per_crossing(settings_factory: Any) -> None:
    with server(
        settings_factory, quota_free=10 * SIZE, quota_warnings="25,45", run_worker=False
    ) as (live, client):
        user = make_user(client)
        ids = [put(client, user), put(client, user)]  # 20 %
        assert warnings(client, user) == []
        ids.append(put(client, user))  # 30 %: crosses 25
        (first,) = warnings(client, user)
        assert first["data"]["threshold"] == 25
        assert first["data"]["quotaBytes"] == 10 * SIZE
        assert first["data"]["storageBytes"] == 3 * SIZE
        assert "25%" in first["title"]
        ids.append(put(client, user))  # 40 %: nothing new
        assert len(warnings(client, user)) == 1
        ids.append(put(client, user))  # 50 %: crosses 45
        assert [w["data"]["threshold"] for w in warnings(client, user)] == [45, 25]
        row = usage_row(live, user.user_id)
        assert row is not None and row.warned_percent == 45

        # Down to 20 % (below both), then up to 30 %: 25 warns again.
        for image_id in ids[2:]:
            purge(live, image_id)
        assert len(warnings(client, user)) == 2
        put(client, user)
        assert [w["data"]["threshold"] for w in warnings(client, user)] == [25, 45, 25]
        row = usage_row(live, user.user_id)
        assert row is not None and (row.warned_percent, row.low_water_bytes) == (25, None)


def test_org_warnings_go_to_its_owners_and_admins(settings_factory: Any) -> None:
    with server(settings_factory, quota_free=2 * SIZE, quota_warnings="50", run_worker=False) as (
        _live,
        client,
    ):
        crew = team(client)
        owner, member, org, album = crew.owner, crew.member, crew.org, crew.album
        admin = make_user(client)
        join(client, owner, org, admin, "admin")
        put(client, member, albumId=album)  # 50 % of the org's quota
        for manager in (owner, admin):
            (warning,) = warnings(client, manager)
            assert warning["data"]["accountId"] == org
            assert warning["data"]["accountKind"] == "org"
        assert warnings(client, member) == []
