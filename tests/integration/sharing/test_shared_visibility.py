"""`shared` and `private`: sharing a private image or album makes it shared (in
the same transaction, and only when the sharing succeeds), and a shared one set
back to private reaches nobody but its owner until it is shared again."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from tests.factories import UserHandle, assert_problem, make_user, upload_ok
from tests.helpers.orgs import create_org, join


def _image(client: httpx.Client, owner: UserHandle, visibility: str) -> str:
    image_id: str = upload_ok(client, owner, visibility=visibility)["imageId"]
    return image_id


def _visibility(client: httpx.Client, owner: UserHandle, kind: str, target: str) -> str:
    r = client.get(f"/v1/{kind}s/{target}", headers=owner.headers)
    assert r.status_code == 200, r.text
    visibility: str = r.json()["visibility"]
    return visibility


def _set(client: httpx.Client, owner: UserHandle, kind: str, target: str, to: str) -> None:
    r = client.patch(f"/v1/{kind}s/{target}", headers=owner.headers, json={"visibility": to})
    assert r.status_code == 200, r.text
    assert r.json()["visibility"] == to


def _album(client: httpx.Client, owner: UserHandle, visibility: str, **body: Any) -> str:
    r = client.post(
        "/v1/albums", headers=owner.headers, json={"title": "A", "visibility": visibility, **body}
    )
    assert r.status_code == 201, r.text
    album_id: str = r.json()["albumId"]
    return album_id


def test_shared_is_a_value_of_its_own(client: httpx.Client) -> None:
    owner, stranger = make_user(client), make_user(client)
    image_id = _image(client, owner, "shared")
    assert _visibility(client, owner, "image", image_id) == "shared"
    # Nobody it is not shared with sees it, and no shared cache keeps it.
    assert_problem(client.get(f"/v1/images/{image_id}", headers=stranger.headers), 403, "forbidden")
    assert_problem(client.get(f"/images/{image_id}/thumb.jpg"), 403, "forbidden")
    r = client.get(f"/images/{image_id}/thumb.jpg", headers=owner.headers)
    assert r.status_code == 200
    assert r.headers["cache-control"] == "private, no-store"
    r = client.get(f"/v1/users/{owner.user_id}/images", headers=stranger.headers)
    assert r.json()["images"] == []
    _set(client, owner, "image", image_id, "private")
    _set(client, owner, "image", image_id, "shared")
    r = client.patch(
        f"/v1/images/{image_id}", headers=owner.headers, json={"visibility": "friends"}
    )
    assert r.status_code == 422
    assert _album(client, owner, "shared")
    r = client.patch("/v1/users/me", headers=owner.headers, json={"defaultVisibility": "shared"})
    assert r.status_code == 200, r.text
    assert r.json()["defaultVisibility"] == "shared"


def test_sharing_a_private_image_makes_it_shared(client: httpx.Client) -> None:
    owner, friend = make_user(client), make_user(client)
    by_person = _image(client, owner, "private")
    r = client.put(
        f"/v1/images/{by_person}/collaborators/{friend.user_id}",
        headers=owner.headers,
        json={"permission": "view"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["visibility"] == "shared"
    assert _visibility(client, owner, "image", by_person) == "shared"
    assert client.get(f"/v1/images/{by_person}", headers=friend.headers).status_code == 200

    by_link = _image(client, owner, "private")
    r = client.post(f"/v1/images/{by_link}/links", headers=owner.headers, json={})
    assert r.status_code == 201, r.text
    assert r.json()["visibility"] == "shared"
    assert _visibility(client, owner, "image", by_link) == "shared"

    # Wider visibilities stay as they are.
    for visibility in ("public", "unlisted"):
        image_id = _image(client, owner, visibility)
        r = client.put(
            f"/v1/images/{image_id}/collaborators/{friend.user_id}",
            headers=owner.headers,
            json={"permission": "edit"},
        )
        assert r.json()["visibility"] == visibility
        r = client.post(f"/v1/images/{image_id}/links", headers=owner.headers, json={})
        assert r.json()["visibility"] == visibility

    # A signed URL is the owner's own capability: it works on a private image
    # and leaves it private.
    signed = _image(client, owner, "private")
    r = client.post(
        f"/v1/images/{signed}/share",
        headers=owner.headers,
        json={"expiresIn": 60, "variant": "metadata"},
    )
    assert r.status_code == 200, r.text
    url = urlsplit(r.json()["shareUrl"])
    assert client.get(url.path, params=dict(parse_qsl(url.query))).status_code == 200
    assert _visibility(client, owner, "image", signed) == "private"


def test_refused_sharing_leaves_it_private(client: httpx.Client) -> None:
    owner, stranger = make_user(client), make_user(client)
    image_id = _image(client, owner, "private")
    url = f"/v1/images/{image_id}/collaborators"
    r = client.put(f"{url}/u_missing", headers=owner.headers, json={"permission": "view"})
    assert_problem(r, 404, "not_found")
    r = client.put(f"{url}/{owner.user_id}", headers=owner.headers, json={"permission": "view"})
    assert_problem(r, 400, "cannot_share_with_owner")
    r = client.put(
        f"{url}/{stranger.user_id}", headers=stranger.headers, json={"permission": "view"}
    )
    assert_problem(r, 403, "forbidden")
    links = f"/v1/images/{image_id}/links"
    r = client.post(links, headers=owner.headers, json={"password": "short"})
    assert_problem(r, 422, "weak_password")
    assert_problem(client.post(links, headers=stranger.headers, json={}), 403, "forbidden")
    assert _visibility(client, owner, "image", image_id) == "private"
    assert client.get(links, headers=owner.headers).json()["links"] == []

    album_id = _album(client, owner, "private")
    r = client.post(
        f"/v1/albums/{album_id}/links", headers=owner.headers, json={"password": "short"}
    )
    assert_problem(r, 422, "weak_password")
    r = client.put(
        f"/v1/albums/{album_id}/collaborators/u_missing",
        headers=owner.headers,
        json={"permission": "view"},
    )
    assert_problem(r, 404, "not_found")
    assert _visibility(client, owner, "album", album_id) == "private"


def test_sharing_a_private_album_makes_it_shared(client: httpx.Client) -> None:
    owner, friend = make_user(client), make_user(client)
    by_person = _album(client, owner, "private")
    r = client.put(
        f"/v1/albums/{by_person}/collaborators/{friend.user_id}",
        headers=owner.headers,
        json={"permission": "view"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["visibility"] == "shared"
    assert _visibility(client, owner, "album", by_person) == "shared"
    assert client.get(f"/v1/albums/{by_person}", headers=friend.headers).status_code == 200
    by_link = _album(client, owner, "private")
    r = client.post(f"/v1/albums/{by_link}/links", headers=owner.headers, json={})
    assert r.status_code == 201, r.text
    assert r.json()["visibility"] == "shared"
    public = _album(client, owner, "public")
    r = client.post(f"/v1/albums/{public}/links", headers=owner.headers, json={})
    assert r.json()["visibility"] == "public"


def _seen(client: httpx.Client, who: UserHandle, owner: UserHandle, image_id: str) -> bool:
    """Whether ``who`` reads the image's metadata and finds it in the owner's listing."""
    read = client.get(f"/v1/images/{image_id}", headers=who.headers).status_code
    r = client.get(f"/v1/users/{owner.user_id}/images", headers=who.headers)
    listed = image_id in {i["imageId"] for i in r.json()["images"]}
    assert (read == 200) == listed, (read, listed)
    return listed


def test_private_again_is_the_owners_alone_until_shared_again(client: httpx.Client) -> None:
    owner, friend, album_friend = make_user(client), make_user(client), make_user(client)
    image_id = _image(client, owner, "private")
    r = client.put(
        f"/v1/images/{image_id}/collaborators/{friend.user_id}",
        headers=owner.headers,
        json={"permission": "download"},
    )
    assert r.status_code == 200, r.text
    album_id = _album(client, owner, "private")
    r = client.post(
        f"/v1/albums/{album_id}/images", headers=owner.headers, json={"imageIds": [image_id]}
    )
    assert r.status_code == 200, r.text
    r = client.put(
        f"/v1/albums/{album_id}/collaborators/{album_friend.user_id}",
        headers=owner.headers,
        json={"permission": "view"},
    )
    assert r.status_code == 200, r.text
    link = client.post(f"/v1/images/{image_id}/links", headers=owner.headers, json={}).json()
    token = client.post(f"/v1/links/{link['linkId']}/open", json={}).json()["token"]

    def reach() -> dict[str, bool]:
        album_page = client.get(f"/v1/albums/{album_id}/images", headers=album_friend.headers)
        in_album = album_page.status_code == 200 and [
            i["imageId"] for i in album_page.json()["images"]
        ] == [image_id]
        return {
            "collaborator": _seen(client, friend, owner, image_id),
            "album": _seen(client, album_friend, owner, image_id) and in_album,
            "link": client.get(f"/images/{image_id}/thumb.jpg", params={"share": token}).status_code
            == 200,
            "owner": _seen(client, owner, owner, image_id),
        }

    everyone = {"collaborator": True, "album": True, "link": True, "owner": True}
    assert reach() == everyone
    _set(client, owner, "image", image_id, "private")
    assert reach() == {"collaborator": False, "album": False, "link": False, "owner": True}
    opening = client.post(f"/v1/links/{link['linkId']}/open", json={})
    assert_problem(opening, 403, "link_target_private")
    # The grants are dormant, not gone.
    listed = client.get(f"/v1/images/{image_id}/collaborators", headers=owner.headers).json()
    assert [c["userId"] for c in listed["collaborators"]] == [friend.user_id]
    _set(client, owner, "image", image_id, "shared")
    assert reach() == everyone
    assert client.post(f"/v1/links/{link['linkId']}/open", json={}).status_code == 200
    views = client.get(f"/v1/images/{image_id}/links", headers=owner.headers).json()["links"]
    assert views[0]["views"] == 2  # the refused open was not counted
    # A private album puts its grants to sleep too, on the album and its images.
    r = client.post(f"/v1/albums/{album_id}/links", headers=owner.headers, json={})
    album_link = r.json()["linkId"]
    _set(client, owner, "album", album_id, "private")
    opening = client.post(f"/v1/links/{album_link}/open", json={})
    assert_problem(opening, 403, "link_target_private")
    assert_problem(
        client.get(f"/v1/albums/{album_id}", headers=album_friend.headers), 404, "not_found"
    )
    assert not _seen(client, album_friend, owner, image_id)
    assert client.get("/v1/albums", headers=album_friend.headers).json()["albums"] == []
    _set(client, owner, "album", album_id, "shared")
    assert reach() == everyone


def test_private_org_album_and_image_are_the_managers(client: httpx.Client) -> None:
    boss, admin, member = make_user(client), make_user(client), make_user(client)
    org = create_org(client, boss, "T")["orgId"]
    join(client, boss, org, admin, "admin")
    join(client, boss, org, member, "member")
    album_id = _album(client, boss, "private", orgId=org)
    image_id = upload_ok(client, boss, visibility="private", albumId=album_id)["imageId"]
    for path in (f"/v1/albums/{album_id}", f"/v1/images/{image_id}"):
        assert client.get(path, headers=admin.headers).status_code == 200
    assert_problem(client.get(f"/v1/albums/{album_id}", headers=member.headers), 404, "not_found")
    assert_problem(client.get(f"/v1/images/{image_id}", headers=member.headers), 403, "forbidden")
    assert client.get("/v1/albums", headers=member.headers).json()["albums"] == []
    assert [
        a["albumId"] for a in client.get("/v1/albums", headers=admin.headers).json()["albums"]
    ] == [album_id]
    _set(client, boss, "album", album_id, "shared")
    _set(client, boss, "image", image_id, "shared")
    assert client.get(f"/v1/albums/{album_id}", headers=member.headers).status_code == 200
    assert client.get(f"/v1/images/{image_id}", headers=member.headers).status_code == 200
