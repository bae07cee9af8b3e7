"""Seed acceptance: a team member with permission can upload to a team album, by
direct, presigned and tus upload; a member without it gets 403 and nothing is stored."""

from __future__ import annotations

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
from tests.helpers.context import with_ctx
from tests.helpers.orgs import Team, team
from tests.integration.tus.helpers import create, created_path, patch, status


@pytest.fixture
def crew(client: httpx.Client) -> Team:
    """The team, with one more member who may not upload to its album."""
    return team(client, bystanders=1)


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
    client: httpx.Client, live: LiveServer, crew: Team, how: str
) -> None:
    allowed, owner = crew.member, crew.owner
    r = UPLOADERS[how](client, allowed, crew.album, image_bytes())
    assert r.status_code in (200, 201), r.text
    image = r.json()
    # in the org's namespace, recording the uploader, and in the album
    assert image["orgId"] == crew.org and image["ownerId"] == allowed.user_id
    listed = client.get(f"/v1/albums/{crew.album}/images", headers=owner.headers).json()
    assert [i["imageId"] for i in listed["images"]] == [image["imageId"]]
    # org admins have owner rights on it; other members may see it once it is ready
    assert wait_processed(client, allowed, image["imageId"])["status"] == "ready"
    r = client.patch(
        f"/v1/images/{image['imageId']}", headers=owner.headers, json={"title": "by admin"}
    )
    assert r.status_code == 200, r.text
    r = client.get(f"/v1/images/{image['imageId']}", headers=crew.bystanders[0].headers)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("how", sorted(UPLOADERS))
def test_member_without_permission_gets_403_and_nothing_is_stored(
    client: httpx.Client, live: LiveServer, crew: Team, how: str
) -> None:
    denied = crew.bystanders[0]
    r = UPLOADERS[how](client, denied, crew.album, image_bytes())
    assert_problem(r, 403, "forbidden")
    assert (
        client.get(f"/v1/albums/{crew.album}/images", headers=crew.owner.headers).json()["total"]
        == 0
    )
    assert stored_originals(live, denied.user_id) == []


def test_outsider_and_unknown_album(client: httpx.Client, crew: Team) -> None:
    outsider = make_user(client)
    # not a member: the album does not exist for them
    assert_problem(direct(client, outsider, crew.album, image_bytes()), 404, "not_found")
    assert_problem(direct(client, outsider, "alb_nope", image_bytes()), 404, "not_found")
    assert_problem(tus(client, outsider, crew.album, image_bytes()), 404, "not_found")


def test_revoked_permission_fails_an_open_tus_upload_cleanly(
    client: httpx.Client, live: LiveServer, crew: Team
) -> None:
    allowed, owner = crew.member, crew.owner
    data = image_bytes()
    path = created_path(create(client, allowed, len(data), albumId=crew.album))
    r = client.delete(
        f"/v1/albums/{crew.album}/collaborators/{allowed.user_id}", headers=owner.headers
    )
    assert r.status_code == 204, r.text
    assert_problem(patch(client, allowed, path, 0, data), 403, "forbidden")
    state = status(client, allowed, path)
    assert state["status"] == "failed" and state["error"]["code"] == "forbidden"
    assert stored_originals(live, allowed.user_id) == []


def test_finalizing_a_tus_upload_applies_the_image_rules(client: httpx.Client, crew: Team) -> None:
    allowed, owner = crew.member, crew.owner
    data = image_bytes()
    path = created_path(create(client, allowed, len(data), albumId=crew.album))
    assert patch(client, allowed, path, 0, data).status_code == 204
    upload_id = path.rsplit("/", 1)[-1]
    image_id = status(client, allowed, path)["imageId"]
    assert wait_processed(client, allowed, image_id)["status"] == "ready"
    # Removed from the org, the uploader no longer owns the image: finalizing
    # cannot change what PATCH could not.
    r = client.delete(f"/v1/orgs/{crew.org}/members/{allowed.user_id}", headers=owner.headers)
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
