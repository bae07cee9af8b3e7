"""Monthly bandwidth budgets: the analytics flush counts what was served per
account and month, warns at the thresholds and at 100 %; over the budget,
everyone but the owner gets 429 `bandwidth_exceeded` until the month ends.

The counts are written by the flush and delivery learns of a used-up budget
at its next reload: the tests run both themselves (long intervals), so
nothing waits for time.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from imghost.analytics.flush import flush
from imghost.context import AppContext
from imghost.quotas import services as quotas
from tests.conftest import LiveServer
from tests.factories import UserHandle, assert_problem, image_bytes, make_user, upload_ok
from tests.helpers.context import on_server
from tests.helpers.orgs import team
from tests.integration.quotas.helpers import org_usage, server, usage

DATA = image_bytes(size=(64, 48))
SIZE = len(DATA)


def settle(live: LiveServer) -> None:
    """Write the counted views (as the periodic flush does), then reload
    delivery's copy of the accounts over budget."""

    async def work(ctx: AppContext) -> None:
        assert await flush(ctx.views, ctx.sessions, ctx.settings)
        await ctx.egress.reload()

    on_server(live, work)


def warnings(client: httpx.Client, user: UserHandle) -> list[dict[str, Any]]:
    r = client.get("/v1/notifications", headers=user.headers, params={"limit": 100})
    assert r.status_code == 200, r.text
    return [n for n in r.json()["notifications"] if n["kind"] == "quota.bandwidth_warning"]


def options(**more: Any) -> dict[str, Any]:
    return {
        "bandwidth_free": 3 * SIZE,
        "quota_warnings": "50",
        "analytics_flush_interval": 3600,
        "egress_refresh": 3600,
        **more,
    }


def test_a_used_up_budget_stops_delivery_to_others(settings_factory: Any) -> None:
    with server(settings_factory, **options()) as (live, client):
        owner = make_user(client)
        image = upload_ok(client, owner, data=DATA, visibility="public")["imageId"]
        month = usage(client, owner)["bandwidth"]
        assert (month["usedBytes"], month["limitBytes"], month["exceeded"]) == (0, 3 * SIZE, False)
        today = dt.datetime.now(dt.UTC).date()
        assert month["month"] == today.strftime("%Y-%m")
        assert month["resetsAt"] == quotas.resets_at(today.replace(day=1)).strftime(
            "%Y-%m-%dT%H:%M:%S.000Z"
        )

        for _ in range(2):
            assert client.get(f"/images/{image}").status_code == 200
        settle(live)
        month = usage(client, owner)["bandwidth"]
        assert (month["usedBytes"], month["percentUsed"]) == (2 * SIZE, 66.7)
        [half] = warnings(client, owner)
        assert half["data"]["threshold"] == 50 and "50% used" in half["title"]

        # The owner's own views count too, and take the budget to 100 %.
        assert client.get(f"/images/{image}", headers=owner.headers).status_code == 200
        settle(live)
        month = usage(client, owner)["bandwidth"]
        assert month["exceeded"] and month["usedBytes"] == 3 * SIZE
        used_up = warnings(client, owner)[0]
        assert used_up["data"]["threshold"] == 100 and "used up" in used_up["title"]
        assert used_up["data"]["budgetBytes"] == 3 * SIZE

        for path in (f"/images/{image}", f"/images/{image}/thumb.webp"):
            r = client.get(path)
            body = assert_problem(r, 429, "bandwidth_exceeded")
            assert body["resetsAt"] == month["resetsAt"] and "resets on" in body["detail"]
            assert int(r.headers["retry-after"]) > 0
            assert r.headers["cache-control"] == "private, no-store"
        assert client.get(f"/images/{image}", headers=owner.headers).status_code == 200
        settle(live)
        assert len(warnings(client, owner)) == 2  # each threshold once a month

        # A larger plan lifts it at the next reload (premium: unlimited here).
        async def upgrade(ctx: AppContext) -> None:
            async with ctx.sessions() as session:
                await quotas.set_plan(session, ctx.settings, owner.user_id, "premium")
                await session.commit()
            await ctx.egress.reload()

        on_server(live, upgrade)
        assert client.get(f"/images/{image}").status_code == 200
        assert usage(client, owner)["bandwidth"]["limitBytes"] is None


def test_org_images_count_against_the_orgs_budget(settings_factory: Any) -> None:
    with server(settings_factory, **options(bandwidth_free=2 * SIZE)) as (live, client):
        crew = team(client)
        org_image = upload_ok(
            client, crew.member, data=DATA, albumId=crew.album, visibility="public"
        )["imageId"]
        own_image = upload_ok(client, crew.member, data=DATA, visibility="public")["imageId"]
        for _ in range(2):
            assert client.get(f"/images/{org_image}").status_code == 200
        settle(live)
        assert org_usage(client, crew.owner, crew.org)["bandwidth"]["usedBytes"] == 2 * SIZE
        assert usage(client, crew.member)["bandwidth"]["usedBytes"] == 0
        # The org's owners and admins are told; the uploader is not.
        assert [w["data"]["threshold"] for w in warnings(client, crew.owner)] == [100]
        assert warnings(client, crew.member) == []
        assert_problem(client.get(f"/images/{org_image}"), 429, "bandwidth_exceeded")
        assert client.get(f"/images/{own_image}").status_code == 200
