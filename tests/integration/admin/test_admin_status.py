"""The admin service's status: queue, images, storage and the users nearest
their quota, by the API and by `imghost admin status`."""

from __future__ import annotations

import json

import httpx
from typer.testing import CliRunner

from imghost.cli.commands import cli
from tests.conftest import LiveServer
from tests.factories import image_bytes, make_user, upload_ok
from tests.helpers.moderation import make_admin
from tests.integration.admin.test_admin_users import cli_env


def test_status_counts_what_is_there(live: LiveServer, client: httpx.Client) -> None:
    admin = make_admin(client, live.settings)
    user = make_user(client)
    data = image_bytes(size=(80, 60))
    for _ in range(2):
        upload_ok(client, user, data=data)
    r = client.patch(
        f"/v1/admin/users/{user.user_id}",
        json={"quotaOverrideBytes": 4 * len(data)},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text

    r = client.get("/v1/admin/status", headers=admin.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["generatedAt"].endswith("Z")
    assert body["images"]["byStatus"]["ready"] == 2
    assert body["images"]["deleted"] == 0 and body["images"]["scanRefused"] == 0
    assert body["storage"]["originalsBytes"] == 2 * len(data)
    assert body["storage"]["images"] == 2
    assert sum(c.get("done", 0) for c in body["queue"].values()) >= 2
    assert body["deadJobs"] == 0 and body["deadJobsLastDay"] == 0
    # The user with the largest share of their quota comes first.
    nearest = body["nearestQuota"][0]
    assert nearest["userId"] == user.user_id
    assert nearest["quotaBytes"] == 4 * len(data)
    assert nearest["usedBytes"] >= 2 * len(data)
    assert nearest["percent"] >= 50

    result = CliRunner().invoke(cli, ["admin", "status", "--json"], env=cli_env(live))
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["images"] == body["images"]
    assert printed["nearestQuota"] == body["nearestQuota"]
    result = CliRunner().invoke(cli, ["admin", "status"], env=cli_env(live))
    assert result.exit_code == 0 and "Nearest their quota" in result.output, result.output
