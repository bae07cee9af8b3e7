"""Seed acceptance: a team member with permission can upload to a team album, by
direct, presigned and tus upload; a member without it gets 403 and nothing is stored."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from imghost.context import AppContext
from tests.conftest import LiveServer
from tests.factories import (
    UserHandle,
    assert_problem,
    image_bytes,
    make_user,
    upload,
    wait_processed,
)
from tests.integration.tus.helpers import create, created_path, patch, status, with_ctx


def join(client: httpx.Client, org: str, owner: UserHandle, user: UserHandle, role: str) -> None:
    r = client.post(
        f"/v1/orgs/{org}/invitations",
        headers=owner.headers,
        json={"userId": user.user_id, "role": role},
    )
    assert r.status_code == 201, r.text
    r = client.post(f"/v1/invitations/{r.json()['invitationId']}/accept", headers=user.headers)
    assert r.status_code == 200, r.text


@pytest.fixture
def team(client: httpx.Client) -> dict[str, Any]:
    owner, allowed, denied = make_user(client), make_user(client), make_user(client)
    org = client.post("/v1/orgs", headers=owner.headers, json={"name": "Team"}).json()["orgId"]
    join(client, org, owner, allowed, "member")
    join(client, org, owner, denied, "member")
    r = client.post(
        "/v1/albums",
        headers=owner.headers,
        json={"title": "Team album", "orgId": org, "visibility": "private"},
    )
    assert r.status_code == 201, r.text
    album = r.json()["albumId"]
    r = client.put(
        f"/v1/albums/{album}/collaborators/{allowed.user_id}",
        headers=owner.headers,
        json={"permission": "upload"},
    )
    assert r.status_code == 200, r.text
    return {"owner": owner, "allowed": allowed, "denied": denied, "org": org, "album": album}


def direct(client: httpx.Client, user: UserHandle, album: str, data: bytes) -> httpx.Response:
    return upload(client, user, data=data, albumId=album)


def presigned(client: httpx.Client, user: UserHandle, album: str, data: bytes) -> httpx.Response:
    r = client.post(
        "/v1/uploads",
        headers=user.headers,
        json={"filename": "p.jpg", "size": len(data), "contentType": "image/jpeg"},
    )
    assert r.status_code == 201, r.text
    up = r.json()
    assert httpx.put(up["presignedUrl"], content=data, timeout=30).status_code == 200
    return client.post(
        "/v1/images", headers=user.headers, json={"uploadId": up["uploadId"], "albumId": album}
    )


def tus(client: httpx.Client, user: UserHandle, album: str, data: bytes) -> httpx.Response:
    r = create(client, user, len(data), albumId=album)
    if r.status_code != 201:
        return r
    path = created_path(r)
    done = patch(client, user, path, 0, data)
    assert done.status_code == 204, done.text
    image_id = status(client, user, path)["imageId"]
    return client.get(f"/v1/images/{image_id}", headers=user.headers)


UPLOADERS = {"direct": direct, "presigned": presigned, "tus": tus}


def stored_originals(live: LiveServer, user_id: str) -> list[str]:
    async def keys(ctx: AppContext) -> list[str]:
        return [m.key async for m in ctx.store.list(f"{user_id}/")]

    return with_ctx(live.settings, keys)


@pytest.mark.parametrize("how", sorted(UPLOADERS))
def test_member_with_permission_uploads_to_team_album(
    client: httpx.Client, live: LiveServer, team: dict[str, Any], how: str
) -> None:
    allowed, owner = team["allowed"], team["owner"]
    r = UPLOADERS[how](client, allowed, team["album"], image_bytes())
    assert r.status_code in (200, 201), r.text
    image = r.json()
    # in the org's namespace, recording the uploader, and in the album
    assert image["orgId"] == team["org"] and image["ownerId"] == allowed.user_id
    listed = client.get(f"/v1/albums/{team['album']}/images", headers=owner.headers).json()
    assert [i["imageId"] for i in listed["images"]] == [image["imageId"]]
    # org admins have owner rights on it; other members may see it once it is ready
    assert wait_processed(client, allowed, image["imageId"])["status"] == "ready"
    r = client.patch(
        f"/v1/images/{image['imageId']}", headers=owner.headers, json={"title": "by admin"}
    )
    assert r.status_code == 200, r.text
    r = client.get(f"/v1/images/{image['imageId']}", headers=team["denied"].headers)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("how", sorted(UPLOADERS))
def test_member_without_permission_gets_403_and_nothing_is_stored(
    client: httpx.Client, live: LiveServer, team: dict[str, Any], how: str
) -> None:
    denied = team["denied"]
    r = UPLOADERS[how](client, denied, team["album"], image_bytes())
    assert_problem(r, 403, "forbidden")
    assert (
        client.get(f"/v1/albums/{team['album']}/images", headers=team["owner"].headers).json()[
            "total"
        ]
        == 0
    )
    assert stored_originals(live, denied.user_id) == []


def test_outsider_and_unknown_album(client: httpx.Client, team: dict[str, Any]) -> None:
    outsider = make_user(client)
    # not a member: the album does not exist for them
    assert_problem(direct(client, outsider, team["album"], image_bytes()), 404, "not_found")
    assert_problem(direct(client, outsider, "alb_nope", image_bytes()), 404, "not_found")
    assert_problem(tus(client, outsider, team["album"], image_bytes()), 404, "not_found")


def test_revoked_permission_fails_an_open_tus_upload_cleanly(
    client: httpx.Client, live: LiveServer, team: dict[str, Any]
) -> None:
    allowed, owner = team["allowed"], team["owner"]
    data = image_bytes()
    path = created_path(create(client, allowed, len(data), albumId=team["album"]))
    r = client.delete(
        f"/v1/albums/{team['album']}/collaborators/{allowed.user_id}", headers=owner.headers
    )
    assert r.status_code == 204, r.text
    assert_problem(patch(client, allowed, path, 0, data), 403, "forbidden")
    state = status(client, allowed, path)
    assert state["status"] == "failed" and state["error"]["code"] == "forbidden"
    assert stored_originals(live, allowed.user_id) == []


def test_finalizing_a_tus_upload_applies_the_image_rules(
    client: httpx.Client, team: dict[str, Any]
) -> None:
    allowed, owner = team["allowed"], team["owner"]
    data = image_bytes()
    path = created_path(create(client, allowed, len(data), albumId=team["album"]))
    assert patch(client, allowed, path, 0, data).status_code == 204
    upload_id = path.rsplit("/", 1)[-1]
    image_id = status(client, allowed, path)["imageId"]
    assert wait_processed(client, allowed, image_id)["status"] == "ready"
    # Removed from the org, the uploader no longer owns the image: finalizing
    # cannot change what PATCH could not.
    r = client.delete(f"/v1/orgs/{team['org']}/members/{allowed.user_id}", headers=owner.headers)
    assert r.status_code == 204, r.text
    r = client.post(
        "/v1/images",
        headers=allowed.headers,
        json={"uploadId": upload_id, "visibility": "public", "title": "leak"},
    )
    assert_problem(r, 403, "forbidden")
    assert client.get(f"/v1/images/{image_id}", headers=owner.headers).json()["title"] is None
    # A deleted image is gone for finalize too, even for its uploader.
    data = image_bytes()
    path = created_path(create(client, owner, len(data)))
    assert patch(client, owner, path, 0, data).status_code == 204
    image_id = status(client, owner, path)["imageId"]
    assert client.delete(f"/v1/images/{image_id}", headers=owner.headers).status_code == 200
    r = client.post(
        "/v1/images",
        headers=owner.headers,
        json={"uploadId": path.rsplit("/", 1)[-1], "title": "again"},
    )
    assert_problem(r, 404, "not_found")
