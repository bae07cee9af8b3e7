"""The moderators' queue: order, paging, assign, resolve (quarantine), dismiss."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import update

from imghost.db import utcnow
from imghost.reports.models import AbuseReport
from tests.conftest import LiveServer
from tests.factories import UserHandle, assert_problem, image_bytes, make_user, upload_ok
from tests.helpers.db import run_sql
from tests.helpers.moderation import file_report, make_admin


def queue(client: httpx.Client, admin: UserHandle, **params: Any) -> dict[str, Any]:
    r = client.get("/v1/admin/reports", params=params, headers=admin.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_several_reports_raise_an_image_in_the_queue(
    client: httpx.Client, live: LiveServer
) -> None:
    owner = make_user(client)
    admin = make_admin(client, live.settings)
    ids = [upload_ok(client, owner)["imageId"] for _ in range(4)]
    lone_old, crowded, lone_new, illegal = ids
    file_report(client, lone_old, "spam")
    for _ in range(3):
        file_report(client, crowded, "spam")
    file_report(client, crowded, "other", "and more")
    file_report(client, lone_new, "spam")
    file_report(client, illegal, "illegal")
    # lone_old's report is the oldest: made older behind the API's back, so
    # the order does not rest on the clock's resolution.
    run_sql(
        live.settings,
        update(AbuseReport)
        .where(AbuseReport.image_id == lone_old)
        .values(created_at=utcnow().replace(year=2020)),
    )

    items = queue(client, admin)["items"]
    # Most severe reason first; then more reports; then waiting longest.
    assert [i["imageId"] for i in items] == [illegal, crowded, lone_old, lone_new]
    top = items[1]
    assert top["reportCount"] == 4 and top["topReason"] == "other"
    assert len(top["reports"]) == 4 and top["image"]["ownerId"] == owner.user_id
    assert top["oldestAt"] <= top["newestAt"]
    assert items[0]["topReason"] == "illegal" and items[0]["reportCount"] == 1

    # Keyset pages of one walk the same order, each image once.
    seen, cursor = [], None
    while True:
        page = queue(client, admin, limit=1, **({"cursor": cursor} if cursor else {}))
        seen += [i["imageId"] for i in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == [illegal, crowded, lone_old, lone_new]
    assert_problem(
        client.get("/v1/admin/reports", params={"cursor": "bm9wZQ"}, headers=admin.headers),
        400,
        "invalid_cursor",
    )
    assert queue(client, admin, status="resolved")["items"] == []


def test_assign_resolve_and_dismiss(client: httpx.Client, live: LiveServer) -> None:
    owner, reporter, stranger = make_user(client), make_user(client), make_user(client)
    admin, other_admin = make_admin(client, live.settings), make_admin(client, live.settings)
    bad = upload_ok(client, owner)["imageId"]
    fine = upload_ok(client, owner)["imageId"]
    first = file_report(client, bad, "abuse", user=reporter)["reportId"]
    file_report(client, bad, "abuse")

    # Assign: by default to yourself, and every open report of the image with it.
    r = client.post(f"/v1/admin/reports/{first}/assign", headers=admin.headers)
    assert r.status_code == 200, r.text
    decision = r.json()
    assert decision["status"] == "assigned" and len(decision["reports"]) == 2
    assert {x["assigneeId"] for x in decision["reports"]} == {admin.user_id}
    assert queue(client, admin)["items"] == []
    # A new report of a taken image joins the admin's work.
    joined = file_report(client, bad, "illegal")
    assert joined["status"] == "assigned"
    (item,) = queue(client, admin, status="assigned")["items"]
    assert item["reportCount"] == 3 and item["assigneeId"] == admin.user_id
    # To another admin; never to someone who is not one.
    r = client.post(
        f"/v1/admin/reports/{first}/assign",
        json={"adminId": other_admin.user_id},
        headers=admin.headers,
    )
    assert {x["assigneeId"] for x in r.json()["reports"]} == {other_admin.user_id}
    r = client.post(
        f"/v1/admin/reports/{first}/assign",
        json={"adminId": stranger.user_id},
        headers=admin.headers,
    )
    assert_problem(r, 422, "not_an_admin")
    r = client.post(
        f"/v1/admin/reports/{first}/assign", json={"adminId": "u_nobody"}, headers=admin.headers
    )
    assert_problem(r, 404, "not_found")

    # Resolve: quarantine, closing every active report of the image at once.
    r = client.post(
        f"/v1/admin/reports/{joined['reportId']}/resolve",
        json={"action": "quarantine", "note": "confirmed"},
        headers=other_admin.headers,
    )
    assert r.status_code == 200, r.text
    decision = r.json()
    assert decision["status"] == "resolved" and decision["imageStatus"] == "quarantined"
    assert len(decision["reports"]) == 3
    assert {x["status"] for x in decision["reports"]} == {"resolved"}
    assert {x["closedBy"] for x in decision["reports"]} == {other_admin.user_id}
    assert {x["note"] for x in decision["reports"]} == {"confirmed"}
    assert queue(client, admin, status="assigned")["items"] == []
    assert queue(client, admin, status="resolved")["items"][0]["reportCount"] == 3
    # Decided is decided: a second decision changes nothing.
    for action in ("resolve", "dismiss", "assign"):
        r = client.post(
            f"/v1/admin/reports/{first}/{action}",
            json={"action": "quarantine"} if action == "resolve" else {},
            headers=admin.headers,
        )
        assert_problem(r, 409, "report_closed")

    # Dismiss: the image is left alone.
    dismissed = file_report(client, fine, "spam")["reportId"]
    r = client.post(
        f"/v1/admin/reports/{dismissed}/dismiss", json={"note": "fine"}, headers=admin.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "dismissed" and r.json()["imageStatus"] == "ready"
    assert r.json()["reports"][0]["resolution"] == "dismiss"
    assert queue(client, admin, status="dismissed")["items"][0]["imageId"] == fine
    assert client.get(f"/images/{fine}").status_code == 200


def test_a_quarantined_image_goes_to_admins_only(client: httpx.Client, live: LiveServer) -> None:
    owner, collaborator = make_user(client), make_user(client)
    admin = make_admin(client, live.settings)
    data = image_bytes(size=(80, 60))
    image_id = upload_ok(client, owner, data=data)["imageId"]
    r = client.post(
        f"/v1/images/{image_id}/collaborators",
        json={"sharedWith": collaborator.user_id, "permission": "download"},
        headers=owner.headers,
    )
    assert r.status_code in (200, 201), r.text
    report_id = file_report(client, image_id, "illegal")["reportId"]
    r = client.post(
        f"/v1/admin/reports/{report_id}/resolve",
        json={"action": "quarantine"},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text

    # The owner keeps the record and learns why; nobody but admins gets bytes.
    record = client.get(f"/v1/images/{image_id}", headers=owner.headers).json()
    assert record["status"] == "quarantined" and record["versions"] == []
    assert record["processing"]["step"] == "moderation"
    assert record["processing"]["code"] == "quarantined_by_admin"
    assert "image.quarantined" in [
        n["kind"]
        for n in client.get("/v1/notifications", headers=owner.headers).json()["notifications"]
    ]
    for path in (f"/images/{image_id}", f"/images/{image_id}/thumb.jpg"):
        assert_problem(client.get(path, headers=owner.headers), 403, "quarantined")
        for headers in ({}, collaborator.headers):
            assert_problem(client.get(path, headers=headers), 404, "not_found")
    r = client.get(f"/v1/images/{image_id}/file", headers=owner.headers)
    assert_problem(r, 403, "quarantined")
    # Listed nowhere for others.
    assert client.get(f"/v1/users/{owner.user_id}/images").json()["total"] == 0

    r = client.get(f"/images/{image_id}", headers=admin.headers)
    assert r.status_code == 200 and r.content == data
    assert r.headers["cache-control"] == "private, no-store"
    assert client.get(f"/images/{image_id}/thumb.jpg", headers=admin.headers).status_code == 200
    r = client.get(f"/v1/images/{image_id}/file", headers=admin.headers, follow_redirects=False)
    assert r.status_code == 302


def test_a_report_resolved_with_a_takedown(client: httpx.Client, live: LiveServer) -> None:
    owner = make_user(client)
    admin = make_admin(client, live.settings)
    image_id = upload_ok(client, owner)["imageId"]
    report_id = file_report(client, image_id, "copyright")["reportId"]
    r = client.post(
        f"/v1/admin/reports/{report_id}/resolve",
        json={"action": "takedown", "note": "DMCA notice 42"},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["reports"][0]["resolution"] == "takedown"
    problem = assert_problem(
        client.get(f"/images/{image_id}"), 451, "unavailable_for_legal_reasons"
    )
    assert problem["reason"] == "takedown"
    takedowns = client.get("/v1/admin/takedowns", headers=admin.headers).json()
    assert any(t["imageId"] == image_id for t in takedowns["takedowns"]), takedowns
    # A later report of it cannot take it down twice; nothing is decided then.
    again = file_report(client, image_id, "abuse", user=admin)["reportId"]
    r = client.post(
        f"/v1/admin/reports/{again}/resolve", json={"action": "takedown"}, headers=admin.headers
    )
    assert_problem(r, 409, "already_taken_down")
    assert client.get(f"/v1/admin/reports/{again}", headers=admin.headers).json()["status"] in (
        "open",
        "assigned",
    )


def test_the_admin_api_is_for_site_admins(client: httpx.Client, live: LiveServer) -> None:
    owner = make_user(client)
    image_id = upload_ok(client, owner)["imageId"]
    report_id = file_report(client, image_id, "spam")["reportId"]
    calls = [
        ("GET", "/v1/admin/reports", None),
        ("GET", f"/v1/admin/reports/{report_id}", None),
        ("POST", f"/v1/admin/reports/{report_id}/assign", {}),
        ("POST", f"/v1/admin/reports/{report_id}/resolve", {"action": "quarantine"}),
        ("POST", f"/v1/admin/reports/{report_id}/dismiss", {}),
        ("GET", "/v1/admin/images?id=" + image_id, None),
        ("GET", f"/v1/admin/images/{image_id}", None),
    ]
    for method, url, body in calls:
        assert_problem(client.request(method, url, json=body), 401, "unauthorized")
        r = client.request(method, url, json=body, headers=owner.headers)
        assert_problem(r, 403, "forbidden")
    assert client.get(f"/images/{image_id}").status_code == 200  # nothing was decided


def test_bad_admin_input_is_a_problem(client: httpx.Client, live: LiveServer) -> None:
    owner = make_user(client)
    admin = make_admin(client, live.settings)
    image_id = upload_ok(client, owner)["imageId"]
    report_id = file_report(client, image_id, "spam")["reportId"]
    url = f"/v1/admin/reports/{report_id}"
    for body in (
        {"action": "delete"},
        {},
        {"action": "quarantine", "note": "x" * 2001},
        {"action": "quarantine", "why": "extra"},
    ):
        r = client.post(f"{url}/resolve", json=body, headers=admin.headers)
        assert_problem(r, 422, "validation_error")
    r = client.post(f"{url}/dismiss", json={"note": "x" * 2001}, headers=admin.headers)
    assert_problem(r, 422, "validation_error")
    r = client.get("/v1/admin/reports", params={"status": "closed"}, headers=admin.headers)
    assert_problem(r, 422, "validation_error")
    for missing in ("rpt_nothere", "x" * 300):
        r = client.post(f"/v1/admin/reports/{missing}/dismiss", headers=admin.headers)
        assert_problem(r, 404, "not_found")
    # Nothing was decided by the refused calls.
    assert queue(client, admin)["items"][0]["reportCount"] == 1
