"""Every timestamp of every answer has one format: RFC 3339, UTC, milliseconds, ``Z``.

Walks the JSON answers of many routes (accounts, keys, uploads, images,
metadata, listings, search, albums, collaborators, links, signed URLs, orgs,
invitations, notifications, webhooks, trash) on both backends: PostgreSQL
hands back microseconds with a zone, SQLite naive values, and none of that
may show.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from imghost.settings import Settings
from tests.conftest import LiveServer
from tests.factories import assert_problem, image_bytes, make_user, upload_ok, wait_processed

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
# Anything that starts like a date-time must be a TIMESTAMP (a bare date is a day).
LOOKS_LIKE_ONE = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d")


@pytest.fixture
def settings(settings_factory: Any) -> Settings:
    made: Settings = settings_factory(webhook_allow_private=True)
    return made


class Walker:
    """Collects every timestamp-looking value of the answers it is shown."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}  # field name -> one value
        self.bad: list[str] = []

    def check(self, r: httpx.Response, status: int = 200) -> Any:
        assert r.status_code == status, (r.request.url, r.text)
        body = r.json()
        self.walk(body, f"{r.request.method} {r.request.url.path}")
        return body

    def walk(self, value: Any, where: str, key: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                self.walk(v, f"{where}.{k}", k)
        elif isinstance(value, list):
            for n, v in enumerate(value):
                self.walk(v, f"{where}[{n}]", key)
        elif isinstance(value, str) and (key.endswith("At") or LOOKS_LIKE_ONE.match(value)):
            self.seen[key] = value
            if not TIMESTAMP.match(value):
                self.bad.append(f"{where} = {value!r}")
        elif key.endswith("At") and value is not None:
            self.bad.append(f"{where} = {value!r} (not a string)")


def test_every_answer_writes_timestamps_one_way(client: httpx.Client, live: LiveServer) -> None:
    w = Walker()
    owner = make_user(client)
    friend = make_user(client)
    h, fh = owner.headers, friend.headers
    w.check(client.get("/v1/users/me", headers=h))
    w.check(client.post("/v1/users/me/api-keys", headers=h, json={"name": "k"}), 201)
    w.check(client.get("/v1/users/me/api-keys", headers=h))

    # Images: direct upload, presigned upload, reads, edits, listings, search.
    image_id = upload_ok(client, owner, data=image_bytes("PNG"), visibility="public")["imageId"]
    wait_processed(client, owner, image_id)
    data = image_bytes("PNG", size=(40, 30))
    up = w.check(
        client.post(
            "/v1/uploads",
            headers=h,
            json={"filename": "p.png", "size": len(data), "contentType": "image/png"},
        ),
        201,
    )
    assert httpx.put(up["presignedUrl"], content=data, timeout=30).status_code == 200
    w.check(client.get(f"/v1/uploads/{up['uploadId']}", headers=h))
    second = w.check(
        client.post("/v1/images", headers=h, json={"uploadId": up["uploadId"], "title": "p"}),
        201,
    )
    for path in (
        f"/v1/images/{image_id}",
        f"/v1/images/{image_id}/metadata",
        f"/images/{image_id}/metadata",
        f"/v1/users/{owner.user_id}/images",
        f"/v1/users/{owner.username}/images?sort=oldest",
        "/v1/images?sort=newest",
        f"/v1/images?user={owner.user_id}&from=2000-01-01T00:00:00Z",
    ):
        w.check(client.get(path, headers=h))
    w.check(client.patch(f"/v1/images/{image_id}", headers=h, json={"title": "new"}))

    # Sharing: collaborators, signed URLs, links (and opening one).
    w.check(
        client.put(
            f"/v1/images/{image_id}/collaborators/{friend.user_id}",
            headers=h,
            json={"permission": "view"},
        )
    )
    w.check(client.get(f"/v1/images/{image_id}/collaborators", headers=h))
    w.check(client.post(f"/v1/images/{image_id}/share", headers=h, json={"expiresIn": 600}))
    link = w.check(
        client.post(f"/v1/images/{image_id}/links", headers=h, json={"expiresIn": 3600}), 201
    )
    w.check(client.get(f"/v1/images/{image_id}/links", headers=h))
    w.check(client.post(f"/v1/links/{link['linkId']}/open", json={}))

    # Albums.
    album = w.check(client.post("/v1/albums", headers=h, json={"title": "a"}), 201)
    w.check(
        client.post(
            f"/v1/albums/{album['albumId']}/images", headers=h, json={"imageIds": [image_id]}
        )
    )
    w.check(
        client.put(
            f"/v1/albums/{album['albumId']}/collaborators/{friend.user_id}",
            headers=h,
            json={"permission": "view"},
        )
    )
    w.check(client.get(f"/v1/albums/{album['albumId']}", headers=h))
    w.check(client.get(f"/v1/albums/{album['albumId']}/images", headers=h))

    # Orgs, members, invitations; the invitee's notification carries expiresAt in `data`.
    org = w.check(client.post("/v1/orgs", headers=h, json={"name": "Acme"}), 201)
    w.check(client.get(f"/v1/orgs/{org['orgId']}/members", headers=h))
    w.check(
        client.post(
            f"/v1/orgs/{org['orgId']}/invitations",
            headers=h,
            json={"userId": friend.user_id, "role": "member"},
        ),
        201,
    )
    w.check(client.get("/v1/users/me/invitations", headers=fh))
    notes = w.check(client.get("/v1/notifications", headers=fh))["notifications"]
    assert any("expiresAt" in (n.get("data") or {}) for n in notes), notes
    w.check(client.post(f"/v1/notifications/{notes[0]['notificationId']}/read", headers=fh))

    # Webhooks and their delivery log (a delivery is queued by the next notification).
    hook = w.check(
        client.post("/v1/webhooks", headers=fh, json={"url": "http://127.0.0.1:9/"}), 201
    )
    w.check(
        client.post(
            f"/v1/orgs/{org['orgId']}/invitations",
            headers=h,
            json={"email": "someone@example.com", "role": "member"},
        ),
        201,
    )
    w.check(client.get(f"/v1/webhooks/{hook['webhookId']}", headers=fh))
    w.check(client.get(f"/v1/webhooks/{hook['webhookId']}/deliveries", headers=fh))

    # Delete, trash, restore.
    w.check(client.delete(f"/v1/images/{second['imageId']}", headers=h))
    w.check(client.get("/v1/trash", headers=h))
    w.check(client.post(f"/v1/images/{second['imageId']}/restore", headers=h))

    # Errors carry no timestamps, but must not break the rule either.
    assert_problem(client.get("/v1/images/img_nope"), 404, "not_found")

    assert w.bad == [], "\n".join(w.bad)
    expected = {
        "createdAt",
        "updatedAt",
        "uploadedAt",
        "processedAt",
        "expiresAt",
        "tokenExpiresAt",
        "deletedAt",
        "purgeAt",
        "joinedAt",
        "readAt",
    }
    assert expected <= set(w.seen), sorted(set(w.seen))
