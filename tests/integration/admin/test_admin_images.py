"""`/v1/admin/images`: any image by id, owner or hash, with its scan, reports and history;
and the report commands of `imghost admin`."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
from typer.testing import CliRunner

from imghost.cli.commands import cli
from tests.conftest import LiveServer
from tests.factories import UserHandle, assert_problem, image_bytes, make_user, upload_ok
from tests.helpers.moderation import file_report, make_admin


def find(client: httpx.Client, admin: UserHandle, **params: Any) -> dict[str, Any]:
    r = client.get("/v1/admin/images", params=params, headers=admin.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_find_any_image_by_id_owner_or_hash(client: httpx.Client, live: LiveServer) -> None:
    owner, other = make_user(client), make_user(client)
    admin = make_admin(client, live.settings)
    data = image_bytes(size=(70, 50), color=(10, 200, 90))
    private = upload_ok(client, owner, data=data, visibility="private")["imageId"]
    deleted = upload_ok(client, owner)["imageId"]
    assert client.delete(f"/v1/images/{deleted}", headers=owner.headers).status_code == 200
    theirs = upload_ok(client, other, data=data)["imageId"]
    file_report(client, theirs, "copyright")

    (hit,) = find(client, admin, id=private)["images"]
    assert hit["visibility"] == "private" and hit["ownerId"] == owner.user_id
    # Deleted images too; newest first; by id, username or e-mail.
    for who in (owner.user_id, owner.username, owner.email):
        listed = find(client, admin, owner=who)["images"]
        assert [i["imageId"] for i in listed] == [deleted, private]
    assert listed[0]["deletedAt"] is not None and listed[1]["deletedAt"] is None
    # The same bytes under two owners, found by their hash (either case).
    digest = hashlib.sha256(data).hexdigest()
    by_hash = find(client, admin, sha256=digest.upper())["images"]
    assert {i["imageId"] for i in by_hash} == {private, theirs}
    assert {i["activeReports"] for i in by_hash if i["imageId"] == theirs} == {1}
    assert find(client, admin, sha256=digest, owner=other.user_id)["images"][0]["imageId"] == theirs
    assert find(client, admin, id="img_nothere")["images"] == []

    # Pages, newest first, each image once.
    page = find(client, admin, owner=owner.user_id, limit=1)
    assert [i["imageId"] for i in page["images"]] == [deleted]
    rest = find(client, admin, owner=owner.user_id, limit=1, cursor=page["nextCursor"])
    assert [i["imageId"] for i in rest["images"]] == [private] and rest["nextCursor"] is None

    url = "/v1/admin/images"
    assert_problem(client.get(url, headers=admin.headers), 422, "validation_error")
    r = client.get(url, params={"sha256": "abc"}, headers=admin.headers)
    assert_problem(r, 422, "validation_error")
    r = client.get(url, params={"owner": "nobody-here"}, headers=admin.headers)
    assert_problem(r, 404, "not_found")
    r = client.get(url, params={"id": private, "cursor": "%%%"}, headers=admin.headers)
    assert_problem(r, 400, "invalid_cursor")


def test_one_image_with_scan_reports_and_history(client: httpx.Client, live: LiveServer) -> None:
    owner, reporter = make_user(client), make_user(client)
    admin = make_admin(client, live.settings)
    image_id = upload_ok(client, owner, title="Sunset")["imageId"]
    first = file_report(client, image_id, "abuse", "harassment", user=reporter)["reportId"]
    second = file_report(client, image_id, "spam")["reportId"]
    assert client.post(f"/v1/admin/reports/{first}/assign", headers=admin.headers).is_success
    r = client.post(
        f"/v1/admin/reports/{second}/resolve",
        json={"action": "quarantine", "note": "targets a person"},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text

    r = client.get(f"/v1/admin/images/{image_id}", headers=admin.headers)
    assert r.status_code == 200, r.text
    image = r.json()
    assert image["status"] == "quarantined" and image["title"] == "Sunset"
    pdq = image["scan"]["pdq"]  # the original's PDQ hash (a flat image: quality 0)
    assert isinstance(pdq, str) and len(pdq) == 64
    assert image["scan"] == {
        "status": "passed",
        "reason": None,
        "signature": None,
        "hashList": None,
        "pdq": pdq,
        "pdqQuality": 0,
    }
    assert image["owner"]["userId"] == owner.user_id
    assert image["owner"]["username"] == owner.username and image["owner"]["plan"] == "free"
    assert [x["reportId"] for x in image["reports"]] == [second, first]  # newest first
    assert image["statusReason"].endswith("targets a person")

    history = image["history"]
    assert [e["at"] for e in history] == sorted(e["at"] for e in history)
    assert [e["kind"] for e in history] == [
        "image.uploaded",
        "report.filed",
        "report.filed",
        "report.assigned",
        "report.resolved",
    ]
    assert history[0]["actor"] == owner.user_id
    assert history[1]["actor"] == reporter.user_id and history[2]["actor"] is None
    assert history[3]["actor"] == admin.user_id
    # One decision on the image's reports is one event naming them all.
    assigned = history[3]["details"]
    assert sorted(assigned["reportIds"]) == sorted([first, second])
    assert assigned["assigneeId"] == admin.user_id
    resolved = history[4]
    assert resolved["actor"] == admin.user_id
    assert sorted(resolved["details"]["reportIds"]) == sorted([first, second])
    assert resolved["details"]["resolution"] == "quarantine"
    assert resolved["details"]["note"] == "targets a person"

    assert client.delete(f"/v1/images/{image_id}", headers=owner.headers).status_code == 200
    image = client.get(f"/v1/admin/images/{image_id}", headers=admin.headers).json()
    assert image["deletedAt"] is not None and history[-1]["kind"] == "report.resolved"
    assert image["history"][-1]["kind"] == "image.deleted"
    for missing in ("img_nothere", "x" * 300):
        r = client.get(f"/v1/admin/images/{missing}", headers=admin.headers)
        assert_problem(r, 404, "not_found")


def test_the_cli_works_the_same_queue(client: httpx.Client, live: LiveServer) -> None:
    owner = make_user(client)
    admin = make_admin(client, live.settings)
    bad, fine = (upload_ok(client, owner)["imageId"] for _ in range(2))
    bad_report = file_report(client, bad, "illegal")["reportId"]
    file_report(client, bad, "spam")
    fine_report = file_report(client, fine, "spam")["reportId"]
    s = live.settings
    env = {
        "IMGHOST_DATABASE_URL": s.database_url,
        "IMGHOST_STORAGE_URL": s.storage_url,
        "IMGHOST_SECRET_KEY": s.secret_key,
    }
    runner = CliRunner()
    result = runner.invoke(cli, ["admin", "reports"], env=env, terminal_width=200)
    assert result.exit_code == 0, result.output
    assert result.output.index(bad) < result.output.index(fine)
    assert "illegal" in result.output

    result = runner.invoke(
        cli, ["admin", "report", "resolve", bad_report, "--note", "cli"], env=env
    )
    assert result.exit_code == 0, result.output
    assert "2 report(s) resolved" in result.output
    assert client.get(f"/images/{bad}", headers=admin.headers).status_code == 200
    assert_problem(client.get(f"/images/{bad}"), 404, "not_found")
    result = runner.invoke(cli, ["admin", "report", "dismiss", fine_report], env=env)
    assert result.exit_code == 0 and "1 report(s) dismissed" in result.output
    result = runner.invoke(
        cli, ["admin", "reports", "--status", "resolved"], env=env, terminal_width=200
    )
    assert result.exit_code == 0 and bad in result.output and fine not in result.output

    result = runner.invoke(cli, ["admin", "report", "dismiss", fine_report], env=env)
    assert result.exit_code == 1 and "already resolved or dismissed" in result.output
    result = runner.invoke(cli, ["admin", "report", "dismiss", "rpt_nothere"], env=env)
    assert result.exit_code == 1 and "No such report" in result.output
    result = runner.invoke(cli, ["admin", "reports", "--status", "closed"], env=env)
    assert result.exit_code == 2
    result = runner.invoke(
        cli, ["admin", "report", "resolve", fine_report, "--action", "delete"], env=env
    )
    assert result.exit_code == 2
    # The CLI decides as the operator: no admin user behind it.
    r = client.get(f"/v1/admin/reports/{bad_report}", headers=admin.headers)
    assert r.json()["closedBy"] is None and r.json()["note"] == "cli"
