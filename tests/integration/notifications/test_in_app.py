"""In-app notifications on both backends: share events, list, unread, read."""

from __future__ import annotations

import httpx

from tests.factories import assert_problem, make_user, upload_ok
from tests.integration.notifications.helpers import notifications, share_image


def test_image_share_notifies_the_collaborator(client: httpx.Client) -> None:
    owner, friend = make_user(client), make_user(client)
    image = upload_ok(client, owner, processed=False, title="Harbour at dawn")
    share_image(client, owner, image["imageId"], friend.user_id)

    body = notifications(client, friend)
    assert body["unreadCount"] == 1 and body["next"] is None
    [note] = body["notifications"]
    assert note["kind"] == "share.image"
    assert note["notificationId"].startswith("ntf_")
    assert owner.username in note["title"]
    assert "Harbour at dawn" in note["body"] and "view" in note["body"]
    assert note["data"] == {
        "imageId": image["imageId"],
        "permission": "view",
        "sharedBy": owner.user_id,
        "sharedByUsername": owner.username,
    }
    assert note["read"] is False and note["readAt"] is None
    # The owner is told nothing; changing the permission is not a new share.
    assert notifications(client, owner)["notifications"] == []
    r = client.put(
        f"/v1/images/{image['imageId']}/collaborators/{friend.user_id}",
        json={"permission": "edit"},
        headers=owner.headers,
    )
    assert r.status_code == 200
    assert len(notifications(client, friend)["notifications"]) == 1


def test_album_share_and_org_invitation(client: httpx.Client) -> None:
    owner, friend = make_user(client), make_user(client)
    r = client.post("/v1/albums", json={"title": "Trip"}, headers=owner.headers)
    assert r.status_code == 201, r.text
    album_id = r.json()["albumId"]
    r = client.put(
        f"/v1/albums/{album_id}/collaborators/{friend.user_id}",
        json={"permission": "upload"},
        headers=owner.headers,
    )
    assert r.status_code == 200, r.text

    r = client.post("/v1/orgs", json={"name": "Darkroom"}, headers=owner.headers)
    org_id = r.json()["orgId"]
    r = client.post(
        f"/v1/orgs/{org_id}/invitations",
        json={"userId": friend.user_id, "role": "member"},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    invitation = r.json()
    # An e-mail invitation is never matched to an account: no notification.
    other = make_user(client)
    r = client.post(
        f"/v1/orgs/{org_id}/invitations",
        json={"email": other.email, "role": "member"},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text

    notes = notifications(client, friend)["notifications"]
    assert [n["kind"] for n in notes] == ["org.invitation", "share.album"]  # newest first
    invite, album = notes
    assert album["data"]["albumId"] == album_id and album["data"]["permission"] == "upload"
    assert "Trip" in album["body"]
    assert invite["data"]["invitationId"] == invitation["invitationId"]
    assert invite["data"]["orgId"] == org_id and invite["data"]["orgName"] == "Darkroom"
    assert invite["data"]["role"] == "member"
    assert "Darkroom" in invite["title"]
    assert notifications(client, other)["notifications"] == []


def test_pages_unread_filter_and_marking_read(client: httpx.Client) -> None:
    owner, friend, stranger = make_user(client), make_user(client), make_user(client)
    for i in range(5):
        image = upload_ok(client, owner, processed=False, title=f"n{i}")
        share_image(client, owner, image["imageId"], friend.user_id)

    first = notifications(client, friend, limit=2)
    assert first["unreadCount"] == 5 and len(first["notifications"]) == 2
    seen = [n["notificationId"] for n in first["notifications"]]
    cursor = first["next"]
    while cursor:
        page = notifications(client, friend, limit=2, cursor=cursor)
        seen += [n["notificationId"] for n in page["notifications"]]
        cursor = page["next"]
    assert len(seen) == len(set(seen)) == 5
    titles = [n["body"] for n in notifications(client, friend)["notifications"]]
    assert [t.split("“")[1].split("”")[0] for t in titles] == ["n4", "n3", "n2", "n1", "n0"]

    r = client.post(f"/v1/notifications/{seen[0]}/read", headers=friend.headers)
    assert r.status_code == 200, r.text
    assert r.json()["read"] is True and r.json()["readAt"]
    again = client.post(f"/v1/notifications/{seen[0]}/read", headers=friend.headers)
    assert again.json()["readAt"] == r.json()["readAt"]  # idempotent
    unread = notifications(client, friend, unread="true")
    assert unread["unreadCount"] == 4
    assert seen[0] not in [n["notificationId"] for n in unread["notifications"]]
    r = client.get("/v1/notifications/unread-count", headers=friend.headers)
    assert r.json() == {"unreadCount": 4}

    # Someone else's notification is not found, and cannot be marked.
    assert_problem(
        client.post(f"/v1/notifications/{seen[1]}/read", headers=stranger.headers), 404, "not_found"
    )
    r = client.post("/v1/notifications/read-all", headers=stranger.headers)
    assert r.json() == {"marked": 0, "unreadCount": 0}
    assert notifications(client, friend)["unreadCount"] == 4

    r = client.post("/v1/notifications/read-all", headers=friend.headers)
    assert r.status_code == 200 and r.json() == {"marked": 4, "unreadCount": 0}
    assert notifications(client, friend, unread="true")["notifications"] == []
    assert len(notifications(client, friend)["notifications"]) == 5


def test_errors(client: httpx.Client) -> None:
    user = make_user(client)
    assert_problem(client.get("/v1/notifications"), 401, "unauthorized")
    assert_problem(client.post("/v1/notifications/read-all"), 401, "unauthorized")
    r = client.get("/v1/notifications", params={"cursor": "nonsense"}, headers=user.headers)
    assert_problem(r, 400, "invalid_cursor")
    r = client.get("/v1/notifications", params={"limit": 101}, headers=user.headers)
    assert_problem(r, 422, "validation_error")
    r = client.post("/v1/notifications/ntf_missing/read", headers=user.headers)
    assert_problem(r, 404, "not_found")
