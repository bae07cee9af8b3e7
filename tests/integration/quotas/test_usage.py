"""Usage reports: originals and derivatives counted separately, pooled org
quotas for team-album uploads, plan changes, purge and gc."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from sqlalchemy import update
from typer.testing import CliRunner

from imghost.cli.commands import cli
from imghost.context import AppContext
from imghost.images.models import Image
from imghost.maintenance.gc import collect
from imghost.quotas import usage as quota_usage
from imghost.quotas.models import QuotaReservation
from imghost.uploads.models import Upload
from tests.conftest import LiveServer
from tests.factories import (
    assert_problem,
    image_bytes,
    make_user,
    upload,
    upload_ok,
)
from tests.helpers.context import with_ctx
from tests.helpers.orgs import team
from tests.integration.quotas.helpers import (
    org_usage,
    originals,
    presign,
    put_presigned,
    reservations,
    server,
    stored,
    usage,
)
from tests.integration.tus.helpers import create

DATA = image_bytes(size=(64, 48))
SIZE = len(DATA)


def derived_bytes(live: LiveServer, owner_id: str, image_id: str) -> int:
    return sum(stored(live, f"{owner_id}/{image_id}/derived/").values())


def test_usage_counts_originals_and_derivatives_separately(settings_factory: Any) -> None:
    with server(settings_factory) as (live, client):
        user = make_user(client)
        image = upload_ok(client, user, data=DATA)
        derived = derived_bytes(live, user.user_id, image["imageId"])
        assert derived > 0
        body = usage(client, user)
        assert body["originalsBytes"] == SIZE
        assert body["derivativesBytes"] == derived
        assert body["storageBytes"] == SIZE + derived
        assert body["quotaBytes"] == 1_000_000_000
        assert body["percentUsed"] == round((SIZE + derived) * 100 / 1e9, 1)
        assert (body["images"], body["reservedBytes"], body["plan"]) == (1, 0, "free")
        assert body["accountKind"] == "user" and body["accountId"] == user.user_id
        assert body["bandwidthBytes30d"] == 0

        # A transform (or an AVIF preset) rendered on request is stored in the
        # rendition cache, which the service owns: it counts against no quota.
        for path in ("t/w_20,c_inside.webp", "thumb.avif"):
            r = client.get(f"/images/{image['imageId']}/{path}")
            assert r.status_code == 200, r.text
        assert derived_bytes(live, user.user_id, image["imageId"]) > derived
        assert usage(client, user)["derivativesBytes"] == derived


def test_bandwidth_of_the_last_30_days(settings_factory: Any) -> None:
    with server(settings_factory, analytics_flush_interval=0.1) as (_live, client):
        user = make_user(client)
        image = upload_ok(client, user, data=DATA)
        r = client.get(f"/images/{image['imageId']}")
        assert r.status_code == 200
        served = len(r.content)
        deadline = dt.datetime.now() + dt.timedelta(seconds=30)
        while usage(client, user)["bandwidthBytes30d"] < served:
            assert dt.datetime.now() < deadline, usage(client, user)
            time.sleep(0.1)
        assert usage(client, user)["bandwidthBytes30d"] == served


def test_team_album_uploads_count_against_the_orgs_pooled_quota(settings_factory: Any) -> None:
    quota = SIZE + SIZE // 2
    with server(settings_factory, quota_free=quota, run_worker=False) as (live, client):
        crew = team(client)
        owner, member, org, album = crew.owner, crew.member, crew.org, crew.album
        assert upload(client, member, data=DATA, albumId=album).status_code == 201
        pooled = org_usage(client, owner, org)
        assert (pooled["originalsBytes"], pooled["images"], pooled["accountKind"]) == (
            SIZE,
            1,
            "org",
        )
        assert org_usage(client, member, org) == pooled
        assert usage(client, member)["originalsBytes"] == 0

        # The org is full: every path into its album is refused, and says whose quota.
        refused = assert_problem(
            upload(client, member, data=DATA, albumId=album), 413, "quota_exceeded"
        )
        assert refused["accountId"] == org
        assert "organization" in refused["detail"]
        assert_problem(create(client, member, SIZE, albumId=album), 413, "quota_exceeded")
        # Presigned: the member's own quota holds the declared size until the
        # album is named at finalize, where the org's quota refuses it.
        upload_id = put_presigned(presign(client, member, DATA), DATA)
        # (Bytes the org has already: a copy is asked for, or it would be the duplicate.)
        r = client.post(
            "/v1/images",
            headers=member.headers,
            json={"uploadId": upload_id, "albumId": album, "allowDuplicate": True},
        )
        assert_problem(r, 413, "quota_exceeded")
        assert len(originals(live)) == 1
        assert org_usage(client, owner, org)["images"] == 1

        # Outsiders do not see the org's usage.
        outsider = make_user(client)
        r = client.get(f"/v1/orgs/{org}/usage", headers=outsider.headers)
        assert_problem(r, 404, "not_found")


def _cli(live: LiveServer, *args: str) -> str:
    s = live.settings
    env = {
        "IMGHOST_DATABASE_URL": s.database_url,
        "IMGHOST_STORAGE_URL": s.storage_url,
        "IMGHOST_SECRET_KEY": s.secret_key,
        "IMGHOST_TMP_DIR": s.tmp_dir,
        "IMGHOST_QUOTA_FREE": str(s.quota_free),
        "IMGHOST_QUOTA_PREMIUM": str(s.quota_premium),
    }
    result = CliRunner().invoke(cli, ["admin", "plan", *args], env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_plan_change_applies_to_the_next_upload(settings_factory: Any) -> None:
    small, large = SIZE // 2, 10 * SIZE
    with server(settings_factory, quota_free=small, quota_premium=large, run_worker=False) as (
        live,
        client,
    ):
        user = make_user(client)
        assert_problem(upload(client, user, data=DATA), 413, "quota_exceeded")
        assert "premium" in _cli(live, user.username, "premium")
        assert upload(client, user, data=DATA).status_code == 201
        body = usage(client, user)
        assert (body["plan"], body["quotaBytes"], body["originalsBytes"]) == (
            "premium",
            large,
            SIZE,
        )
        # Back to free: what is stored stays, nothing more fits.
        _cli(live, user.user_id, "free")
        body = usage(client, user)
        assert (body["plan"], body["quotaBytes"]) == ("free", small)
        assert body["percentUsed"] > 100
        assert_problem(upload(client, user, data=DATA), 413, "quota_exceeded")

        # Orgs have plans too.
        crew = team(client)
        owner, org, album = crew.owner, crew.org, crew.album
        assert_problem(upload(client, owner, data=DATA, albumId=album), 413, "quota_exceeded")
        _cli(live, org, "premium")
        assert org_usage(client, owner, org)["quotaBytes"] == large
        assert upload(client, owner, data=DATA, albumId=album).status_code == 201


def test_plan_command_refuses_unknown_plans_and_accounts(settings_factory: Any) -> None:
    with server(settings_factory, run_worker=False) as (live, client):
        user = make_user(client)
        s = live.settings
        env = {
            "IMGHOST_DATABASE_URL": s.database_url,
            "IMGHOST_STORAGE_URL": s.storage_url,
            "IMGHOST_SECRET_KEY": s.secret_key,
        }
        runner = CliRunner()
        result = runner.invoke(cli, ["admin", "plan", user.username, "gold"], env=env)
        assert result.exit_code == 1 and "free, premium" in result.output
        result = runner.invoke(cli, ["admin", "plan", "nobody-here", "premium"], env=env)
        assert result.exit_code == 1 and "nobody-here" in result.output
        assert usage(client, user)["plan"] == "free"


def _purge(live: LiveServer, image_id: str) -> None:
    async def work(ctx: AppContext) -> None:
        async with ctx.sessions() as session:
            image = await session.get(Image, image_id)
            assert image is not None
            await quota_usage.image_purged(session, image)
            await session.commit()

    with_ctx(live.settings, work)


def test_purge_frees_usage_once(settings_factory: Any) -> None:
    with server(settings_factory) as (live, client):
        user = make_user(client)
        kept = upload_ok(client, user, data=DATA)
        gone = upload_ok(client, user, data=image_bytes(size=(80, 60)))
        kept_derived = derived_bytes(live, user.user_id, kept["imageId"])
        # Soft-deleted images count until purged.
        assert client.delete(f"/v1/images/{gone['imageId']}", headers=user.headers).status_code in (
            200,
            204,
        )
        assert usage(client, user)["images"] == 2
        for _ in range(2):  # idempotent
            _purge(live, gone["imageId"])
            body = usage(client, user)
            assert (body["originalsBytes"], body["derivativesBytes"], body["images"]) == (
                SIZE,
                kept_derived,
                1,
            )


def test_gc_releases_the_reservations_of_expired_uploads(settings_factory: Any) -> None:
    with server(settings_factory, run_worker=False) as (live, client):
        user = make_user(client)
        assert presign(client, user, DATA).status_code == 201
        past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)

        async def age(ctx: AppContext) -> None:
            async with ctx.sessions() as session:
                await session.execute(update(Upload).values(expires_at=past))
                await session.execute(update(QuotaReservation).values(expires_at=past))
                await session.commit()

        with_ctx(live.settings, age)
        assert usage(client, user)["reservedBytes"] == SIZE
        report = with_ctx(live.settings, lambda ctx: collect(ctx.gc))
        assert report.quota_reservations == 1
        assert usage(client, user)["reservedBytes"] == 0
        assert reservations(live) == []


def test_usage_of_a_new_account_is_zero(settings_factory: Any) -> None:
    with server(settings_factory, run_worker=False) as (_live, client):
        user = make_user(client)
        body = usage(client, user)
        assert body["storageBytes"] == body["images"] == body["percentUsed"] == 0
        assert client.get("/v1/users/me/usage").status_code == 401


def test_trash_counts_and_a_permanent_delete_frees_room(settings_factory: Any) -> None:
    quota = SIZE + SIZE // 2
    with server(settings_factory, quota_free=quota, run_worker=False) as (_live, client):
        user = make_user(client)
        first = upload(client, user, data=DATA)
        assert first.status_code == 201, first.text
        image_id = first.json()["imageId"]
        # In the trash it still takes its room.
        assert client.delete(f"/v1/images/{image_id}", headers=user.headers).status_code == 200
        assert_problem(upload(client, user, data=DATA), 413, "quota_exceeded")
        r = client.delete(
            f"/v1/images/{image_id}", headers=user.headers, params={"permanent": "true"}
        )
        assert r.status_code == 200 and r.json()["purged"] is True, r.text
        body = usage(client, user)
        assert (body["originalsBytes"], body["images"]) == (0, 0)
        assert upload(client, user, data=DATA).status_code == 201
