from __future__ import annotations

import uuid

import httpx
from sqlalchemy import update

from imghost.images.models import Image
from tests.conftest import LiveServer
from tests.factories import assert_problem, image_bytes, make_user, upload_ok
from tests.helpers.db import run_sql

SEED_METADATA_FIELDS = {
    "imageId",
    "ownerId",
    "title",
    "description",
    "tags",
    "size",
    "format",
    "width",
    "height",
    "visibility",
    "createdAt",
    "updatedAt",
}


def test_get_image_metadata_shape(client: httpx.Client) -> None:
    user = make_user(client)
    img = upload_ok(client, user, title="t", tags="x")
    r = client.get(f"/v1/images/{img['imageId']}")
    assert r.status_code == 200
    body = r.json()
    assert SEED_METADATA_FIELDS | {"url", "thumbnailUrl", "status"} <= set(body)
    assert body["ownerId"] == user.user_id and body["tags"] == ["x"]
    for path in (f"/v1/images/{img['imageId']}/metadata", f"/images/{img['imageId']}/metadata"):
        meta = client.get(path).json()
        assert meta["file"]["width"] == 64 and meta["file"]["format"] == "jpeg"
        assert meta["file"]["uploadedAt"] == body["createdAt"]


def test_patch_image(client: httpx.Client) -> None:
    user = make_user(client)
    other = make_user(client)
    img = upload_ok(client, user)
    path = f"/v1/images/{img['imageId']}"
    r = client.patch(
        path,
        headers=user.headers,
        json={"title": "New", "description": "d", "tags": ["B", "a"], "visibility": "unlisted"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["title"], body["tags"], body["visibility"]) == ("New", ["b", "a"], "unlisted")
    assert body["updatedAt"] >= body["createdAt"]
    assert client.get(path).json()["title"] == "New"
    assert_problem(client.patch(path, headers=other.headers, json={"title": "x"}), 403, "forbidden")
    assert_problem(client.patch(path, json={"title": "x"}), 401, "unauthorized")
    bad = client.patch(path, headers=user.headers, json={"visibility": "world"})
    assert_problem(bad, 422, "validation_error")
    null_vis = client.patch(path, headers=user.headers, json={"visibility": None})
    assert_problem(null_vis, 422, "invalid_visibility")
    long_tag = client.patch(path, headers=user.headers, json={"tags": ["x" * 65]})
    assert_problem(long_tag, 422, "invalid_tag")


def test_soft_delete_hides_everywhere(client: httpx.Client) -> None:
    user = make_user(client)
    other = make_user(client)
    img = upload_ok(client, user)
    image_id = img["imageId"]
    assert_problem(client.delete(f"/v1/images/{image_id}", headers=other.headers), 403, "forbidden")
    r = client.delete(f"/v1/images/{image_id}", headers=user.headers)
    assert r.status_code == 200
    assert r.json()["imageId"] == image_id and r.json()["deleted"] is True
    # The design's shape: {imageId, status: "deleted", deletedAt}.
    assert r.json()["status"] == "deleted" and r.json()["deletedAt"]
    for path in (
        f"/v1/images/{image_id}",
        f"/v1/images/{image_id}/metadata",
        f"/v1/images/{image_id}/file",
        f"/images/{image_id}",
        f"/images/{image_id}/metadata",
    ):
        assert_problem(client.get(path, headers=user.headers), 404, "not_found")
    assert client.head(f"/images/{image_id}").status_code == 404
    # Deleting again is harmless: the image stays in the trash with its window.
    again = client.delete(f"/v1/images/{image_id}", headers=user.headers)
    assert again.status_code == 200 and again.json()["purgeAt"] == r.json()["purgeAt"]
    listing = client.get(f"/v1/users/{user.user_id}/images", headers=user.headers).json()
    assert listing["total"] == 0


def test_visibility_rules(client: httpx.Client) -> None:
    owner = make_user(client)
    other = make_user(client)
    public = upload_ok(client, owner, visibility="public")["imageId"]
    unlisted = upload_ok(client, owner, visibility="unlisted")["imageId"]
    private = upload_ok(client, owner, visibility="private")["imageId"]
    for viewer in ({}, other.headers, owner.headers):
        for image_id in (public, unlisted):
            assert client.get(f"/images/{image_id}", headers=viewer).status_code == 200
            assert client.get(f"/v1/images/{image_id}", headers=viewer).status_code == 200
    for viewer in ({}, other.headers):
        for path in (
            f"/images/{private}",
            f"/v1/images/{private}",
            f"/images/{private}/metadata",
            f"/v1/images/{private}/file",
        ):
            assert_problem(client.get(path, headers=viewer), 403, "forbidden")
    assert client.get(f"/images/{private}", headers=owner.headers).status_code == 200
    assert client.get(f"/v1/images/{private}", headers=owner.headers).status_code == 200
    bogus = {"Authorization": "Bearer not-a-token"}
    assert_problem(client.get(f"/images/{private}", headers=bogus), 401, "invalid_token")
    assert_problem(client.get("/images/img_nope"), 404, "not_found")
    assert_problem(client.get("/v1/images/img_nope"), 404, "not_found")


def test_user_listing(client: httpx.Client) -> None:
    owner = make_user(client)
    other = make_user(client)
    ids = []
    for i, (vis, tags) in enumerate(
        [("public", "summer"), ("public", "winter"), ("unlisted", "summer"), ("private", "summer")]
    ):
        ids.append(upload_ok(client, owner, visibility=vis, tags=tags, title=str(i))["imageId"])
    mine = client.get(f"/v1/users/{owner.user_id}/images", headers=owner.headers).json()
    assert mine["total"] == 4 and [i["imageId"] for i in mine["images"]] == ids[::-1]
    assert mine["page"] == 1 and mine["limit"] == 20
    theirs = client.get(f"/v1/users/{owner.user_id}/images", headers=other.headers).json()
    assert theirs["total"] == 2 and {i["visibility"] for i in theirs["images"]} == {"public"}
    anon_summer = client.get(f"/v1/users/{owner.user_id}/images?tag=summer").json()
    assert [i["imageId"] for i in anon_summer["images"]] == [ids[0]]
    own_summer = client.get(
        f"/v1/users/{owner.user_id}/images?tag=summer", headers=owner.headers
    ).json()
    assert own_summer["total"] == 3
    page2 = client.get(
        f"/v1/users/{owner.user_id}/images?limit=3&page=2", headers=owner.headers
    ).json()
    assert page2["total"] == 4 and [i["imageId"] for i in page2["images"]] == [ids[0]]
    assert_problem(client.get(f"/v1/users/{owner.user_id}/images?limit=0"), 422, "validation_error")
    assert_problem(
        client.get(f"/v1/users/{owner.user_id}/images?limit=101"), 422, "validation_error"
    )
    assert_problem(client.get(f"/v1/users/{owner.user_id}/images?page=x"), 422, "validation_error")
    assert_problem(client.get("/v1/users/u_nobody/images"), 404, "not_found")


def test_user_listing_by_username_and_sorted(client: httpx.Client, live: LiveServer) -> None:
    # Mixed case: the name is found whatever the case it is asked in.
    owner = make_user(client, f"Lister{uuid.uuid4().hex[:6]}")
    ids = [upload_ok(client, owner, visibility="public", title=str(i))["imageId"] for i in range(3)]
    run_sql(
        live.settings,
        update(Image).where(Image.id == ids[0]).values(view_count=9),
        update(Image).where(Image.id == ids[2]).values(view_count=4),
    )

    def listed(who: str, **params: str) -> list[str]:
        r = client.get(f"/v1/users/{who}/images", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        # The design's shape (extra fields are kept).
        assert {"images", "page", "limit", "total"} <= set(body) and body["total"] == 3
        for item in body["images"]:
            assert {"imageId", "title", "thumbnailUrl", "visibility", "createdAt"} <= set(item)
        return [i["imageId"] for i in body["images"]]

    newest = ids[::-1]
    assert listed(owner.user_id) == newest
    assert listed(owner.username) == newest
    assert listed(owner.username.lower()) == newest
    assert listed(owner.username.upper(), sort="newest") == newest
    assert listed(owner.username, sort="oldest") == ids
    assert listed(owner.user_id, sort="most_viewed") == [ids[0], ids[2], ids[1]]
    assert listed(owner.username, sort="oldest", limit="2", page="2") == [ids[2]]

    # Bad paths: an unknown name, a sort that needs a search text, an unknown sort.
    assert_problem(client.get("/v1/users/nobody-by-that-name/images"), 404, "not_found")
    r = client.get(f"/v1/users/{owner.username}/images", params={"sort": "relevance"})
    assert_problem(r, 400, "relevance_needs_q")
    r = client.get(f"/v1/users/{owner.username}/images", params={"sort": "random"})
    assert_problem(r, 422, "validation_error")


def test_file_redirect(client: httpx.Client) -> None:
    user = make_user(client)
    img = upload_ok(client, user, data=image_bytes("PNG"))
    r = client.get(f"/v1/images/{img['imageId']}/file")
    assert r.status_code == 302 and r.headers["location"] == img["url"]
    followed = client.get(f"/v1/images/{img['imageId']}/file", follow_redirects=True)
    assert followed.status_code == 200 and followed.headers["content-type"] == "image/png"


def test_unstorable_text_is_refused_cleanly(client: httpx.Client) -> None:
    user = make_user(client)
    img = upload_ok(client, user)
    for path in ("/images/img_%00x", "/v1/images/%00", f"/v1/users/{user.user_id}/images?tag=a%00"):
        assert_problem(client.get(path), 400, "invalid_characters")
    assert_problem(client.get("/images/img_%ff%fe"), 400, "invalid_characters")
    for value in ("bad\x00title", "lone \ud800 surrogate"):
        r = client.patch(
            f"/v1/images/{img['imageId']}",
            headers={**user.headers, "content-type": "application/json"},
            content=('{"title": ' + __import__("json").dumps(value) + "}").encode(),
        )
        assert_problem(r, 422, "validation_error")
    r = client.post(
        "/v1/images",
        headers=user.headers,
        files={"file": ("a.jpg", image_bytes(), "image/jpeg")},
        data={"title": "nul\x00inside"},
    )
    assert_problem(r, 422, "validation_error")
    r = client.post(
        "/v1/uploads",
        headers=user.headers,
        json={"filename": "a\x00.png", "size": 10, "contentType": "image/png"},
    )
    assert_problem(r, 422, "validation_error")
