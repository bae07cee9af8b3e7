"""Share links over HTTP on both backends: create, list, revoke, open, and the
grant an open hands out on every read path."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import insert, update

from imghost.albums.models import Album, AlbumImage
from imghost.ids import new_id
from imghost.sharing.models import ImageCollaborator, ShareLink
from tests.conftest import LiveServer
from tests.factories import UserHandle, assert_problem, make_user, upload_ok
from tests.helpers.db import run_sql


def private_image(client: httpx.Client, owner: UserHandle) -> str:
    image_id: str = upload_ok(client, owner, visibility="private")["imageId"]
    return image_id


def shared_image(client: httpx.Client, owner: UserHandle) -> str:
    """Grants reach shared images; a private one is its owner's alone."""
    image_id: str = upload_ok(client, owner, visibility="shared")["imageId"]
    return image_id


def create_link(
    client: httpx.Client, user: UserHandle, image_id: str, **body: Any
) -> dict[str, Any]:
    r = client.post(f"/v1/images/{image_id}/links", headers=user.headers, json=body)
    assert r.status_code == 201, r.text
    link: dict[str, Any] = r.json()
    return link


def open_link(client: httpx.Client, link_id: str, **body: Any) -> httpx.Response:
    return client.post(f"/v1/links/{link_id}/open", json=body)


def opened(client: httpx.Client, link_id: str, **body: Any) -> dict[str, Any]:
    r = open_link(client, link_id, **body)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    result: dict[str, Any] = r.json()
    return result


def test_create_list_revoke(client: httpx.Client, live: LiveServer) -> None:
    owner = make_user(client)
    image_id = private_image(client, owner)

    plain = create_link(client, owner, image_id)
    assert plain["linkId"].startswith("lnk_")
    assert plain["url"] == f"{live.url}/s/{plain['linkId']}"
    assert plain["kind"] == "image" and plain["targetId"] == image_id
    assert plain["permissions"] == ["view"]
    assert plain["expiresAt"] is None and plain["maxViews"] is None
    assert plain["views"] == 0 and plain["hasPassword"] is False
    assert plain["revokedAt"] is None and plain["createdAt"]

    full = create_link(
        client,
        owner,
        image_id,
        expiresIn=3600,
        password="hunter22",
        permissions=["download", "view"],
        maxViews=5,
    )
    assert full["permissions"] == ["view", "download"]
    assert full["hasPassword"] is True and full["maxViews"] == 5
    expires = dt.datetime.fromisoformat(full["expiresAt"])
    assert abs((expires - dt.datetime.now(dt.UTC)).total_seconds() - 3600) < 60
    assert "password" not in full and "passwordHash" not in full

    r = client.get(f"/v1/images/{image_id}/links", headers=owner.headers)
    assert r.status_code == 200, r.text
    assert {link["linkId"] for link in r.json()["links"]} == {plain["linkId"], full["linkId"]}

    r = client.delete(f"/v1/links/{plain['linkId']}", headers=owner.headers)
    assert r.status_code == 204, r.text
    again = client.delete(f"/v1/links/{plain['linkId']}", headers=owner.headers)
    assert again.status_code == 204  # idempotent
    listed = {
        link["linkId"]: link
        for link in client.get(f"/v1/images/{image_id}/links", headers=owner.headers).json()[
            "links"
        ]
    }
    assert listed[plain["linkId"]]["revokedAt"] is not None
    assert listed[full["linkId"]]["revokedAt"] is None

    assert_problem(client.delete("/v1/links/lnk_nope", headers=owner.headers), 404, "not_found")
    assert_problem(client.delete(f"/v1/links/{full['linkId']}"), 401, "unauthorized")


def test_invalid_link_requests(client: httpx.Client) -> None:
    owner = make_user(client)
    image_id = private_image(client, owner)
    url = f"/v1/images/{image_id}/links"
    body: dict[str, Any]
    for body in (
        {"permissions": ["download"]},
        {"permissions": []},
        {"permissions": ["edit"]},
        {"expiresIn": 10},
        {"expiresIn": 31536001},
        {"maxViews": 0},
        {"surprise": True},
    ):
        r = client.post(url, headers=owner.headers, json=body)
        assert_problem(r, 422, "validation_error")
    assert_problem(client.post(url, json={}), 401, "unauthorized")
    r = client.post("/v1/images/img_missing/links", headers=owner.headers, json={})
    assert_problem(r, 404, "not_found")
    assert_problem(client.post("/v1/links/lnk_missing/open", json={}), 404, "not_found")


def test_open_grants_every_read_path(client: httpx.Client) -> None:
    owner = make_user(client)
    image_id = private_image(client, owner)
    link = create_link(client, owner, image_id, permissions=["view", "download"])

    result = opened(client, link["linkId"])  # anonymous
    assert result["linkId"] == link["linkId"] and result["kind"] == "image"
    assert result["permissions"] == ["view", "download"] and result["expiresAt"] is None
    token = result["token"]
    token_expires = dt.datetime.fromisoformat(result["tokenExpiresAt"])
    assert token_expires > dt.datetime.now(dt.UTC)
    image = result["image"]
    assert image["imageId"] == image_id and "album" not in result
    for key in ("url", "thumbnailUrl", "downloadUrl"):
        assert parse_qs(urlsplit(image[key]).query)["share"] == [token], key

    share = {"share": token}
    for path in (
        f"/v1/images/{image_id}",
        f"/v1/images/{image_id}/metadata",
        f"/images/{image_id}/metadata",
    ):
        r = client.get(path, params=share)
        assert r.status_code == 200, (path, r.text)
        assert r.json()["imageId"] == image_id
    for path in (
        f"/images/{image_id}/medium.jpg",
        f"/images/{image_id}/t/w_32.webp",
        f"/images/{image_id}",
    ):
        r = client.get(path, params=share)
        assert r.status_code == 200, (path, r.text)
        assert r.headers["content-type"].startswith("image/")
        cache = r.headers["cache-control"]
        assert "private" in cache and "no-store" in cache, (path, cache)
        assert "public" not in cache
    for key in ("url", "thumbnailUrl", "downloadUrl"):
        r = client.get(image[key])
        assert r.status_code == 200, (key, r.text)
    # /file keeps the grant on its redirect
    r = client.get(f"/v1/images/{image_id}/file", params=share, follow_redirects=True)
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/")

    # Without the grant the image stays private.
    assert_problem(client.get(f"/images/{image_id}/medium.jpg"), 403, "forbidden")
    listed = client.get(f"/v1/images/{image_id}/links", headers=owner.headers).json()["links"]
    assert listed[0]["views"] == 1


def test_view_only_link_refuses_the_original(client: httpx.Client) -> None:
    owner = make_user(client)
    image_id = private_image(client, owner)
    link = create_link(client, owner, image_id)
    result = opened(client, link["linkId"])
    assert result["permissions"] == ["view"]
    assert "downloadUrl" not in result["image"]
    share = {"share": result["token"]}
    assert client.get(f"/images/{image_id}/small.jpg", params=share).status_code == 200
    assert client.get(result["image"]["url"]).status_code == 200
    assert_problem(client.get(f"/images/{image_id}", params=share), 403, "forbidden")
    r = client.get(f"/v1/images/{image_id}/file", params=share, follow_redirects=False)
    assert_problem(r, 403, "forbidden")


def test_revoking_stops_minted_grants_at_once(client: httpx.Client) -> None:
    owner = make_user(client)
    image_id = private_image(client, owner)
    link = create_link(client, owner, image_id)
    share = {"share": opened(client, link["linkId"])["token"]}
    assert client.get(f"/images/{image_id}/thumb.jpg", params=share).status_code == 200

    r = client.delete(f"/v1/links/{link['linkId']}", headers=owner.headers)
    assert r.status_code == 204
    assert_problem(client.get(f"/images/{image_id}/thumb.jpg", params=share), 403, "forbidden")
    assert_problem(client.get(f"/v1/images/{image_id}", params=share), 403, "forbidden")
    assert_problem(open_link(client, link["linkId"]), 410, "link_revoked")


def test_expired_link(client: httpx.Client, live: LiveServer) -> None:
    owner = make_user(client)
    image_id = private_image(client, owner)
    link = create_link(client, owner, image_id, expiresIn=120)
    result = opened(client, link["linkId"])
    # The grant never outlives the link.
    assert dt.datetime.fromisoformat(result["tokenExpiresAt"]) <= dt.datetime.fromisoformat(
        link["expiresAt"]
    )
    share = {"share": result["token"]}
    assert client.get(f"/v1/images/{image_id}", params=share).status_code == 200

    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    run_sql(
        live.settings,
        update(ShareLink).where(ShareLink.id == link["linkId"]).values(expires_at=past),
    )
    assert_problem(open_link(client, link["linkId"]), 410, "link_expired")
    assert_problem(client.get(f"/v1/images/{image_id}", params=share), 403, "forbidden")


def test_max_views(client: httpx.Client) -> None:
    owner = make_user(client)
    image_id = private_image(client, owner)
    link = create_link(client, owner, image_id, maxViews=2)
    opened(client, link["linkId"])
    opened(client, link["linkId"])
    assert_problem(open_link(client, link["linkId"]), 410, "link_exhausted")
    listed = client.get(f"/v1/images/{image_id}/links", headers=owner.headers).json()["links"]
    assert listed[0]["views"] == 2


def test_password(client: httpx.Client) -> None:
    owner = make_user(client)
    image_id = private_image(client, owner)
    link = create_link(client, owner, image_id, password="open sesame")
    assert_problem(open_link(client, link["linkId"]), 401, "link_password_required")
    r = open_link(client, link["linkId"], password="open barley")
    assert_problem(r, 403, "link_password_invalid")
    result = opened(client, link["linkId"], password="open sesame")
    assert client.get(result["image"]["thumbnailUrl"]).status_code == 200


def test_wrong_passwords_are_throttled(client: httpx.Client) -> None:
    owner = make_user(client)
    image_id = private_image(client, owner)
    link = create_link(client, owner, image_id, password="open sesame")
    for _ in range(5):
        r = open_link(client, link["linkId"], password="wrong guess")
        assert_problem(r, 403, "link_password_invalid")
    r = open_link(client, link["linkId"], password="wrong guess")
    assert_problem(r, 429, "too_many_attempts")
    assert 1 <= int(r.headers["retry-after"]) <= 60
    # While throttled even the right password is refused: guessing learns nothing.
    r = open_link(client, link["linkId"], password="open sesame")
    assert_problem(r, 429, "too_many_attempts")
    # Other links are not affected.
    other = create_link(client, owner, image_id, password="open sesame")
    opened(client, other["linkId"], password="open sesame")


def test_tampered_token(client: httpx.Client) -> None:
    owner = make_user(client)
    image_id = private_image(client, owner)
    token = opened(client, create_link(client, owner, image_id)["linkId"])["token"]
    link_id, exp, kid, sig = token.split(".")
    forged = [
        f"{link_id}.{int(exp) + 86400}.{kid}.{sig}",
        f"{link_id}.{exp}.{kid}.{sig[:-2]}{'AA' if sig[-2:] != 'AA' else 'BB'}",
        f"lnk_other.{exp}.{kid}.{sig}",
        "garbage",
    ]
    for bad in forged:
        r = client.get(f"/v1/images/{image_id}", params={"share": bad})
        assert_problem(r, 403, "share_token_invalid")
        r = client.get(f"/images/{image_id}/thumb.jpg", params={"share": bad})
        assert_problem(r, 403, "share_token_invalid")


def test_only_those_who_may_share_manage_links(client: httpx.Client, live: LiveServer) -> None:
    owner = make_user(client)
    stranger = make_user(client)
    collaborator = make_user(client)
    image_id = shared_image(client, owner)
    run_sql(
        live.settings,
        insert(ImageCollaborator).values(
            image_id=image_id,
            user_id=collaborator.user_id,
            permission="edit",
            granted_by=owner.user_id,
            created_at=dt.datetime.now(dt.UTC),
        ),
    )
    assert client.get(f"/v1/images/{image_id}", headers=collaborator.headers).status_code == 200
    link = create_link(client, owner, image_id)
    for user in (stranger, collaborator):
        r = client.post(f"/v1/images/{image_id}/links", headers=user.headers, json={})
        assert_problem(r, 403, "forbidden")
        r = client.get(f"/v1/images/{image_id}/links", headers=user.headers)
        assert_problem(r, 403, "forbidden")
        r = client.delete(f"/v1/links/{link['linkId']}", headers=user.headers)
        assert_problem(r, 403, "forbidden")
    # Public images too: seeing is not sharing.
    public_id = upload_ok(client, owner)["imageId"]
    r = client.post(f"/v1/images/{public_id}/links", headers=stranger.headers, json={})
    assert_problem(r, 403, "forbidden")
    opened(client, link["linkId"])  # still live


def test_link_for_one_image_does_not_open_another(client: httpx.Client) -> None:
    owner = make_user(client)
    first = private_image(client, owner)
    second = private_image(client, owner)
    share = {"share": opened(client, create_link(client, owner, first)["linkId"])["token"]}
    assert client.get(f"/v1/images/{first}", params=share).status_code == 200
    assert_problem(client.get(f"/v1/images/{second}", params=share), 403, "forbidden")
    assert_problem(client.get(f"/images/{second}/thumb.jpg", params=share), 403, "forbidden")


def test_deleted_image_link_is_gone(client: httpx.Client) -> None:
    owner = make_user(client)
    image_id = private_image(client, owner)
    link = create_link(client, owner, image_id)
    assert client.delete(f"/v1/images/{image_id}", headers=owner.headers).status_code == 200
    assert_problem(open_link(client, link["linkId"]), 404, "not_found")  # in the trash
    r = client.delete(f"/v1/images/{image_id}", params={"permanent": "true"}, headers=owner.headers)
    assert r.status_code in (200, 202), r.text
    assert_problem(open_link(client, link["linkId"]), 404, "not_found")  # purged with it


def test_album_links(client: httpx.Client, live: LiveServer) -> None:
    owner = make_user(client)
    stranger = make_user(client)
    inside = shared_image(client, owner)
    outside = private_image(client, owner)
    album_id = new_id("alb")
    now = dt.datetime.now(dt.UTC)
    run_sql(
        live.settings,
        insert(Album).values(
            id=album_id,
            owner_id=owner.user_id,
            org_id=None,
            title="Holiday",
            description="Sea and sand",
            visibility="private",
            created_at=now,
            updated_at=now,
        ),
        insert(AlbumImage).values(
            album_id=album_id, image_id=inside, position=0, added_by=owner.user_id, added_at=now
        ),
    )
    r = client.post(f"/v1/albums/{album_id}/links", headers=owner.headers, json={})
    assert r.status_code == 201, r.text
    link = r.json()
    assert link["kind"] == "album" and link["targetId"] == album_id
    assert link["visibility"] == "shared"  # sharing the private album made it shared
    r = client.get(f"/v1/albums/{album_id}/links", headers=owner.headers)
    assert [x["linkId"] for x in r.json()["links"]] == [link["linkId"]]

    # A private album is invisible to others: 404, as if missing.
    r = client.post(f"/v1/albums/{album_id}/links", headers=stranger.headers, json={})
    assert_problem(r, 404, "not_found")
    r = client.get(f"/v1/albums/{album_id}/links", headers=stranger.headers)
    assert_problem(r, 404, "not_found")
    r = client.post("/v1/albums/alb_missing/links", headers=owner.headers, json={})
    assert_problem(r, 404, "not_found")

    result = opened(client, link["linkId"])
    assert result["kind"] == "album" and "image" not in result
    album = result["album"]
    assert album["albumId"] == album_id and album["title"] == "Holiday"
    assert album["description"] == "Sea and sand"
    images_url = urlsplit(album["imagesUrl"])
    assert images_url.path == f"/v1/albums/{album_id}/images"
    assert parse_qs(images_url.query)["share"] == [result["token"]]

    share = {"share": result["token"]}
    assert client.get(f"/v1/images/{inside}/metadata", params=share).status_code == 200
    assert client.get(f"/images/{inside}/thumb.jpg", params=share).status_code == 200
    assert_problem(client.get(f"/images/{inside}", params=share), 403, "forbidden")
    assert_problem(client.get(f"/v1/images/{outside}", params=share), 403, "forbidden")

    r = client.delete(f"/v1/links/{link['linkId']}", headers=owner.headers)
    assert r.status_code == 204
    assert_problem(client.get(f"/images/{inside}/thumb.jpg", params=share), 403, "forbidden")


def test_share_page(client: httpx.Client) -> None:
    owner = make_user(client)
    link = create_link(client, owner, private_image(client, owner))
    r = client.get(f"/s/{link['linkId']}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "/v1/links/" in r.text and "link_password_required" in r.text
    csp = r.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "script-src 'sha256-" in csp
    assert r.headers["referrer-policy"] == "no-referrer"
    # Showing the page does not use the link up.
    listed = client.get(f"/v1/images/{link['targetId']}/links", headers=owner.headers).json()
    assert listed["links"][0]["views"] == 0


@pytest.mark.standard_password_hash
def test_concurrent_guesses_are_counted(client: httpx.Client) -> None:
    owner = make_user(client)
    image_id = private_image(client, owner)
    link = create_link(client, owner, image_id, password="open sesame")
    with ThreadPoolExecutor(8) as pool:
        codes = list(
            pool.map(
                lambda _: open_link(client, link["linkId"], password="wrong guess").status_code,
                range(30),
            )
        )
    assert codes.count(403) <= 5 and codes.count(429) >= 25, codes
