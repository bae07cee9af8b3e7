"""Filing abuse reports: anyone who can see an image, within a per-address limit."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from imghost.db import create_engine, session_factory
from imghost.reports import services
from imghost.reports.models import AbuseReport
from imghost.testing.servers import RedisServer
from tests.conftest import LiveServer
from tests.factories import assert_problem, make_user, upload_ok
from tests.helpers.moderation import file_report, make_admin
from tests.integration.auth.conftest import running


def kinds(client: httpx.Client, headers: dict[str, str]) -> list[str]:
    r = client.get("/v1/notifications", headers=headers)
    assert r.status_code == 200, r.text
    return [n["kind"] for n in r.json()["notifications"]]


def test_anonymous_and_signed_in_reports(client: httpx.Client, live: LiveServer) -> None:
    owner, reporter = make_user(client), make_user(client)
    admin = make_admin(client, live.settings)
    image_id = upload_ok(client, owner)["imageId"]

    anonymous = file_report(client, image_id, "spam")
    assert anonymous["reportId"].startswith("rpt_") and anonymous["status"] == "open"
    # Anonymous callers have no identity to merge on: each report is its own.
    again = file_report(client, image_id, "spam")
    assert again["reportId"] != anonymous["reportId"]

    first = file_report(client, image_id, "copyright", "my photo", user=reporter)
    assert first["status"] == "open"
    assert kinds(client, reporter.headers) == ["report.received"]
    # One open report per (image, signed-in reporter): a repeat updates it.
    repeat = file_report(client, image_id, "illegal", "worse than I said", user=reporter)
    assert repeat["reportId"] == first["reportId"]
    assert kinds(client, reporter.headers) == ["report.received"]  # acknowledged once
    r = client.get(f"/v1/admin/reports/{first['reportId']}", headers=admin.headers)
    assert r.status_code == 200, r.text
    stored = r.json()
    assert stored["reason"] == "illegal" and stored["details"] == "worse than I said"
    assert stored["reporterId"] == reporter.user_id and stored["imageId"] == image_id
    r = client.get(f"/v1/admin/reports/{anonymous['reportId']}", headers=admin.headers)
    assert r.json()["reporterId"] is None and r.json()["details"] is None
    # The owner is not told who reported them, nor that they were.
    assert "report.received" not in kinds(client, owner.headers)

    # Once decided, the same reporter may report the image again: a new report.
    r = client.post(
        f"/v1/admin/reports/{first['reportId']}/dismiss", json={}, headers=admin.headers
    )
    assert r.status_code == 200, r.text
    later = file_report(client, image_id, "abuse", user=reporter)
    assert later["reportId"] != first["reportId"] and later["status"] == "open"


def test_only_images_the_reporter_can_see(client: httpx.Client, live: LiveServer) -> None:
    owner, stranger = make_user(client), make_user(client)
    admin = make_admin(client, live.settings)
    private = upload_ok(client, owner, visibility="private")["imageId"]
    deleted = upload_ok(client, owner)["imageId"]
    assert client.delete(f"/v1/images/{deleted}", headers=owner.headers).status_code == 200
    body = {"reason": "abuse"}

    for missing in (deleted, "img_doesnotexist", "x" * 300):
        assert_problem(client.post(f"/v1/images/{missing}/reports", json=body), 404, "not_found")
    # As GET /v1/images/{id} answers: a private image is 403 to others.
    for headers in ({}, stranger.headers):
        r = client.post(f"/v1/images/{private}/reports", json=body, headers=headers)
        assert_problem(r, 403, "forbidden")
    # Nothing was filed by the refused attempts.
    r = client.get("/v1/admin/reports", params={"status": "open"}, headers=admin.headers)
    assert r.json()["items"] == []
    # Those who can see it (the owner here) may report it.
    assert file_report(client, private, "other", user=owner)["status"] == "open"


def test_bad_input_is_a_problem(client: httpx.Client) -> None:
    owner = make_user(client)
    image_id = upload_ok(client, owner)["imageId"]
    url = f"/v1/images/{image_id}/reports"
    for body in (
        {"reason": "ugly"},
        {},
        {"reason": "spam", "details": "x" * 2001},
        {"reason": "spam", "extra": 1},
        {"reason": "spam", "details": "nul \x00 here"},
    ):
        assert_problem(client.post(url, json=body), 422, "validation_error")
    assert client.post(url, json={"reason": "spam", "details": "x" * 2000}).status_code == 202


def test_reports_are_limited_per_address(settings_factory: Any) -> None:
    settings = settings_factory(report_rate_limit="3/hour")
    with LiveServer(settings) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        owner, reporter = make_user(client), make_user(client)
        image_id = upload_ok(client, owner)["imageId"]
        file_report(client, image_id, "spam")
        file_report(client, image_id, "spam", user=reporter)
        file_report(client, image_id, "abuse", user=reporter)  # an update counts too
        for headers in ({}, reporter.headers):
            r = client.post(
                f"/v1/images/{image_id}/reports", json={"reason": "spam"}, headers=headers
            )
            body = assert_problem(r, 429, "rate_limited")
            assert "3 per hour" in body["detail"]
            assert 1 <= int(r.headers["Retry-After"]) <= 3600


@pytest.fixture(params=["memory", "redis"])
def counters_at(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return ""
    server: RedisServer = request.getfixturevalue("redis_session")
    server.flush()
    return server.url


def test_the_limit_counts_each_address_before_any_read(
    settings_factory: Any, counters_at: str
) -> None:
    """Counted first: reports of an image that does not exist count too (a
    flood costs a counter, not a query), and another address is unaffected."""
    settings = settings_factory(run_worker=False, redis_url=counters_at, report_rate_limit="2/hour")
    url = "/v1/images/img_nothere/reports"

    async def main() -> None:
        async with running(settings) as at:
            bot = at("198.51.100.7")
            for _ in range(2):
                assert (await bot.post(url, json={"reason": "spam"})).status_code == 404
            assert_problem(await bot.post(url, json={"reason": "spam"}), 429, "rate_limited")
            # The same /64 is the same subscriber.
            v6, v6_sibling = at("2001:db8:1:2::1"), at("2001:db8:1:2::99")
            for _ in range(2):
                assert (await v6.post(url, json={"reason": "spam"})).status_code == 404
            r = await v6_sibling.post(url, json={"reason": "spam"})
            assert_problem(r, 429, "rate_limited")
            r = await at("203.0.113.5").post(url, json={"reason": "spam"})
            assert r.status_code == 404

    anyio.run(main)


def test_a_racing_repeat_updates_the_report_that_won(
    client: httpx.Client, live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two reports by one reporter at once: both look, find nothing, insert; the
    partial unique index refuses the second, which then updates the first."""
    owner, reporter = make_user(client), make_user(client)
    image_id = upload_ok(client, owner)["imageId"]
    won = file_report(client, image_id, "spam", user=reporter)["reportId"]
    real = services._active_of
    looks: list[str] = []

    async def missed_once(session: AsyncSession, image: str, who: str) -> AbuseReport | None:
        looks.append(who)
        return None if len(looks) == 1 else await real(session, image, who)

    monkeypatch.setattr(services, "_active_of", missed_once)

    async def main() -> tuple[str, bool, str, str | None]:
        engine = create_engine(live.settings.database_url)
        try:
            async with session_factory(engine)() as session:
                filed = await services.file_report(
                    session,
                    image_id=image_id,
                    reporter_id=reporter.user_id,
                    reason="illegal",
                    details="raced",
                )
                await session.commit()
                report = await services.get_report(session, won)
                return filed.report.id, filed.created, report.reason, report.details
        finally:
            await engine.dispose()

    assert anyio.run(main) == (won, False, "illegal", "raced")
    assert looks == [reporter.user_id, reporter.user_id]
