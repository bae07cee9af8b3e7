"""Albums over HTTP on both backends: CRUD, membership and order, cover,
visibility, collaborators, org albums, share-link reads, and which images an
album reveals to whom."""

from __future__ import annotations

import time
from typing import Any

import httpx
from sqlalchemy import insert

from imghost.db import utcnow
from imghost.ids import new_id
from imghost.sharing.models import ShareLink
from imghost.signing import SigningKeys, mint_link_grant
from tests.conftest import LiveServer
from tests.factories import UserHandle, assert_problem, make_user, upload_ok
from tests.helpers.db import run_sql
from tests.helpers.orgs import create_org, join


def create_album(client: httpx.Client, user: UserHandle, **body: Any) -> dict[str, Any]:
    r = client.post("/v1/albums", headers=user.headers, json={"title": "Trip", **body})
    assert r.status_code == 201, r.text
    album: dict[str, Any] = r.json()
    return album


def image(client: httpx.Client, user: UserHandle, visibility: str = "public") -> str:
    image_id: str = upload_ok(client, user, visibility=visibility)["imageId"]
    return image_id


def add(client: httpx.Client, user: UserHandle, album_id: str, *ids: str) -> httpx.Response:
    return client.post(
        f"/v1/albums/{album_id}/images", headers=user.headers, json={"imageIds": list(ids)}
    )


def listed(
    client: httpx.Client, album_id: str, user: UserHandle | None = None, **params: Any
) -> list[str]:
    headers = user.headers if user else {}
    r = client.get(f"/v1/albums/{album_id}/images", headers=headers, params=params)
    assert r.status_code == 200, r.text
    return [i["imageId"] for i in r.json()["images"]]


def grant(
    client: httpx.Client, owner: UserHandle, album_id: str, user: UserHandle, permission: str
) -> httpx.Response:
    return client.put(
        f"/v1/albums/{album_id}/collaborators/{user.user_id}",
        headers=owner.headers,
        json={"permission": permission},
    )


def test_album_crud(client: httpx.Client) -> None:
    owner, other = make_user(client), make_user(client)
    album = create_album(client, owner, description="Sea")
    album_id = album["albumId"]
    assert album_id.startswith("alb_") and len(album_id) >= 30
    assert album["visibility"] == "private" and album["permission"] == "owner"
    assert (album["ownerId"], album["orgId"], album["imageCount"]) == (owner.user_id, None, 0)
    assert album["coverImageId"] is None and album["description"] == "Sea"
    assert {"createdAt", "updatedAt", "coverUrl", "title"} <= set(album)

    path = f"/v1/albums/{album_id}"
    assert client.get(path, headers=owner.headers).json()["title"] == "Trip"
    r = client.get("/v1/albums", headers=owner.headers)
    assert r.status_code == 200 and [a["albumId"] for a in r.json()["albums"]] == [album_id]
    assert r.json()["total"] == 1
    assert client.get("/v1/albums", headers=other.headers).json()["albums"] == []

    r = client.patch(path, headers=owner.headers, json={"title": "Trip 2", "description": None})
    assert r.status_code == 200, r.text
    assert (r.json()["title"], r.json()["description"]) == ("Trip 2", None)
    assert r.json()["updatedAt"] >= album["updatedAt"]

    # Private albums answer like missing ones to everyone else.
    assert_problem(client.get(path, headers=other.headers), 404, "not_found")
    assert_problem(client.get(path), 404, "not_found")
    assert_problem(client.patch(path, headers=other.headers, json={"title": "x"}), 404, "not_found")
    assert_problem(client.delete(path, headers=other.headers), 404, "not_found")
    assert_problem(client.get("/v1/albums/alb_missing", headers=owner.headers), 404, "not_found")

    # Deleting the album leaves its images alone.
    img = image(client, owner, "private")
    assert add(client, owner, album_id, img).status_code == 200
    assert client.delete(path, headers=owner.headers).status_code == 204
    assert_problem(client.get(path, headers=owner.headers), 404, "not_found")
    assert client.get(f"/v1/images/{img}", headers=owner.headers).status_code == 200
    assert client.get("/v1/albums", headers=owner.headers).json()["total"] == 0


def test_album_bad_requests(client: httpx.Client) -> None:
    owner = make_user(client)
    album_id = create_album(client, owner)["albumId"]
    path = f"/v1/albums/{album_id}"
    assert_problem(client.post("/v1/albums", json={"title": "x"}), 401, "unauthorized")
    assert_problem(client.get("/v1/albums"), 401, "unauthorized")
    assert_problem(client.patch(path, json={"title": "x"}), 401, "unauthorized")
    assert_problem(client.delete(path), 401, "unauthorized")
    r = client.post(f"{path}/images", json={"imageIds": ["img_x"]})
    assert_problem(r, 401, "unauthorized")
    bad_bodies: list[dict[str, Any]] = [
        {},
        {"title": ""},
        {"title": "x" * 201},
        {"title": "x", "visibility": "world"},
        {"title": "x", "colour": "red"},
    ]
    for body in bad_bodies:
        r = client.post("/v1/albums", headers=owner.headers, json=body)
        assert_problem(r, 422, "validation_error")
    for patch in ({"title": None}, {"visibility": None}, {"visibility": "world"}):
        assert_problem(
            client.patch(path, headers=owner.headers, json=patch), 422, "validation_error"
        )
    for ids in ([], [f"img_{i}" for i in range(101)]):
        assert_problem(add(client, owner, album_id, *ids), 422, "validation_error")
    r = client.get(f"{path}/images", headers=owner.headers, params={"limit": 101})
    assert_problem(r, 422, "validation_error")
    r = client.get(f"{path}/images", headers=owner.headers, params={"page": 0})
    assert_problem(r, 422, "validation_error")


def test_images_order_and_cover(client: httpx.Client) -> None:
    owner = make_user(client)
    a, b, c = (image(client, owner) for _ in range(3))
    album_id = create_album(client, owner)["albumId"]
    path = f"/v1/albums/{album_id}"

    r = add(client, owner, album_id, a, b)
    assert r.status_code == 200, r.text
    assert r.json()["imageCount"] == 2
    # Already-present images are skipped; new ones append in the order given.
    r = add(client, owner, album_id, b, c, c)
    assert r.status_code == 200 and r.json()["imageCount"] == 3
    assert listed(client, album_id, owner) == [a, b, c]

    r = client.put(f"{path}/order", headers=owner.headers, json={"imageIds": [c, a, b]})
    assert r.status_code == 200, r.text
    assert listed(client, album_id, owner) == [c, a, b]
    for wrong in ([c, a], [c, a, b, b], [c, a, b, "img_other"], []):
        r = client.put(f"{path}/order", headers=owner.headers, json={"imageIds": wrong})
        assert_problem(r, 400, "order_mismatch")
    assert listed(client, album_id, owner) == [c, a, b]

    r = client.patch(path, headers=owner.headers, json={"coverImageId": b})
    assert r.status_code == 200, r.text
    assert r.json()["coverImageId"] == b
    assert r.json()["coverUrl"].endswith(f"/images/{b}/thumb.jpg")
    outside = image(client, owner)
    r = client.patch(path, headers=owner.headers, json={"coverImageId": outside})
    assert_problem(r, 400, "cover_not_in_album")
    r = client.patch(path, headers=owner.headers, json={"coverImageId": "img_missing"})
    assert_problem(r, 400, "cover_not_in_album")

    # Removing the cover clears it; removing is idempotent and never deletes.
    r = client.request("DELETE", f"{path}/images", headers=owner.headers, json={"imageIds": [b]})
    assert r.status_code == 200, r.text
    assert r.json()["coverImageId"] is None and r.json()["imageCount"] == 2
    r = client.delete(f"{path}/images/{b}", headers=owner.headers)
    assert r.status_code == 200 and r.json()["imageCount"] == 2
    r = client.delete(f"{path}/images/{a}", headers=owner.headers)
    assert r.status_code == 200 and r.json()["imageCount"] == 1
    assert listed(client, album_id, owner) == [c]
    assert client.get(f"/v1/images/{a}").status_code == 200

    r = client.patch(path, headers=owner.headers, json={"coverImageId": c})
    assert r.json()["coverImageId"] == c
    r = client.patch(path, headers=owner.headers, json={"coverImageId": None})
    assert r.status_code == 200 and r.json()["coverImageId"] is None


def test_adding_an_image_you_cannot_see_is_refused(client: httpx.Client) -> None:
    owner, other = make_user(client), make_user(client)
    mine = image(client, owner)
    theirs_public = image(client, other)
    theirs_private = image(client, other, "private")
    album_id = create_album(client, owner)["albumId"]

    r = add(client, owner, album_id, mine, theirs_private)
    assert_problem(r, 403, "forbidden")
    assert_problem(add(client, owner, album_id, mine, "img_missing"), 404, "not_found")
    r = client.get(f"/v1/albums/{album_id}", headers=owner.headers)
    assert r.json()["imageCount"] == 0 and listed(client, album_id, owner) == []

    # Someone else's image you can see is fine.
    r = add(client, owner, album_id, theirs_public, mine)
    assert r.status_code == 200, r.text
    assert listed(client, album_id, owner) == [theirs_public, mine]
    # Adding to an album you cannot see: 404, whatever the images.
    assert_problem(add(client, other, album_id, theirs_public), 404, "not_found")


def test_collaborator_sees_shared_images_in_the_album_only(client: httpx.Client) -> None:
    owner, friend, stranger = make_user(client), make_user(client), make_user(client)
    inside = image(client, owner, "shared")
    shown = image(client, owner)
    outside = image(client, owner, "shared")
    hidden = image(client, owner, "private")  # the owner's alone, even in a shared album
    album = create_album(client, owner)
    album_id = album["albumId"]
    assert add(client, owner, album_id, inside, shown, hidden).status_code == 200

    r = grant(client, owner, album_id, friend, "view")
    assert r.status_code == 200, r.text
    assert r.json()["permission"] == "view" and r.json()["username"] == friend.username
    assert r.json()["visibility"] == "shared"  # the private album became shared
    assert_problem(client.get(f"/v1/images/{hidden}", headers=friend.headers), 403, "forbidden")

    r = client.get(f"/v1/albums/{album_id}", headers=friend.headers)
    assert r.status_code == 200 and r.json()["permission"] == "view"
    assert r.json()["imageCount"] == 2
    assert listed(client, album_id, friend) == [inside, shown]
    assert client.get(f"/v1/images/{inside}", headers=friend.headers).status_code == 200
    assert_problem(client.get(f"/v1/images/{outside}", headers=friend.headers), 403, "forbidden")
    # The album appears in the collaborator's own listing.
    r = client.get("/v1/albums", headers=friend.headers)
    assert [(a["albumId"], a["permission"]) for a in r.json()["albums"]] == [(album_id, "view")]

    # view is not enough to change anything.
    path = f"/v1/albums/{album_id}"
    assert_problem(
        client.patch(path, headers=friend.headers, json={"title": "x"}), 403, "forbidden"
    )
    assert_problem(add(client, friend, album_id, shown), 403, "forbidden")
    r = client.put(f"{path}/order", headers=friend.headers, json={"imageIds": [shown, inside]})
    assert_problem(r, 403, "forbidden")
    assert_problem(
        client.delete(f"{path}/images/{shown}", headers=friend.headers), 403, "forbidden"
    )
    assert_problem(client.delete(path, headers=friend.headers), 403, "forbidden")
    assert_problem(client.get(path, headers=stranger.headers), 404, "not_found")
    assert_problem(client.get(f"{path}/images", headers=stranger.headers), 404, "not_found")


def test_public_album_hides_shared_images_from_others(client: httpx.Client) -> None:
    owner, friend = make_user(client), make_user(client)
    private = image(client, owner, "shared")
    unlisted = image(client, owner, "unlisted")
    public = image(client, owner)
    album_id = create_album(client, owner)["albumId"]
    assert add(client, owner, album_id, private, unlisted, public).status_code == 200
    assert grant(client, owner, album_id, friend, "view").status_code == 200

    path = f"/v1/albums/{album_id}"
    assert_problem(client.get(path), 404, "not_found")
    r = client.patch(
        path, headers=owner.headers, json={"visibility": "public", "coverImageId": private}
    )
    assert r.status_code == 200, r.text
    r = client.get(path)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["permission"] == "view" and body["imageCount"] == 2
    # The cover is private: anonymous callers do not learn its id.
    assert body["coverImageId"] is None and body["coverUrl"] is None
    assert listed(client, album_id) == [unlisted, public]
    assert_problem(client.get(f"/v1/images/{private}"), 403, "forbidden")
    # An explicit grant still shows everything.
    assert listed(client, album_id, friend) == [private, unlisted, public]
    assert client.get(path, headers=friend.headers).json()["coverImageId"] == private
    # Public albums of others are reachable by id but never listed.
    assert client.get("/v1/albums", headers=make_user(client).headers).json()["total"] == 0

    r = client.patch(path, headers=owner.headers, json={"visibility": "unlisted"})
    assert r.json()["visibility"] == "unlisted"
    assert listed(client, album_id) == [unlisted, public]


def test_visibility_is_the_owners(client: httpx.Client) -> None:
    owner, editor = make_user(client), make_user(client)
    a, b = image(client, owner), image(client, owner, "shared")
    album_id = create_album(client, owner)["albumId"]
    assert add(client, owner, album_id, a, b).status_code == 200
    assert grant(client, owner, album_id, editor, "edit").status_code == 200
    path = f"/v1/albums/{album_id}"

    r = client.patch(path, headers=editor.headers, json={"title": "Edited", "coverImageId": b})
    assert r.status_code == 200, r.text
    assert r.json()["permission"] == "edit" and r.json()["coverImageId"] == b
    r = client.patch(path, headers=editor.headers, json={"visibility": "public"})
    assert_problem(r, 403, "forbidden")
    # Sending the current visibility back is not a change.
    r = client.patch(path, headers=editor.headers, json={"visibility": "shared", "title": "T"})
    assert r.status_code == 200, r.text
    r = client.put(f"{path}/order", headers=editor.headers, json={"imageIds": [b, a]})
    assert r.status_code == 200 and listed(client, album_id, owner) == [b, a]
    assert_problem(client.delete(path, headers=editor.headers), 403, "forbidden")
    r = client.delete(f"{path}/images/{a}", headers=editor.headers)
    assert r.status_code == 200 and r.json()["imageCount"] == 1


def test_foreign_image_made_private_is_hidden(client: httpx.Client) -> None:
    owner, other, friend = make_user(client), make_user(client), make_user(client)
    theirs = image(client, other)
    mine = image(client, owner)
    album_id = create_album(client, owner, visibility="public")["albumId"]
    assert add(client, owner, album_id, theirs, mine).status_code == 200
    assert grant(client, owner, album_id, friend, "edit").status_code == 200
    assert listed(client, album_id, owner) == [theirs, mine]

    r = client.patch(f"/v1/images/{theirs}", headers=other.headers, json={"visibility": "private"})
    assert r.status_code == 200, r.text
    # Someone else's image is seen by its own rules only, whatever the album grants.
    for viewer in (owner, friend, None):
        assert listed(client, album_id, viewer) == [mine]
    r = client.get(f"/v1/albums/{album_id}/images", headers=owner.headers)
    assert r.json()["total"] == 1
    assert client.get(f"/v1/albums/{album_id}", headers=owner.headers).json()["imageCount"] == 1
    assert listed(client, album_id, other) == [theirs, mine]
    # The editor orders what they see; the hidden image keeps its slot.
    r = client.put(
        f"/v1/albums/{album_id}/order", headers=friend.headers, json={"imageIds": [mine]}
    )
    assert r.status_code == 200, r.text
    r = client.put(
        f"/v1/albums/{album_id}/order", headers=friend.headers, json={"imageIds": [mine, theirs]}
    )
    assert_problem(r, 400, "order_mismatch")
    assert listed(client, album_id, other) == [theirs, mine]
    # A deleted image disappears from the album for everyone.
    assert client.delete(f"/v1/images/{mine}", headers=owner.headers).status_code == 200
    assert listed(client, album_id, owner) == []


def test_collaborators(client: httpx.Client) -> None:
    owner, uploader, viewer, stranger = (make_user(client) for _ in range(4))
    owners_image = image(client, owner)
    album_id = create_album(client, owner)["albumId"]
    assert add(client, owner, album_id, owners_image).status_code == 200
    path = f"/v1/albums/{album_id}/collaborators"

    assert grant(client, owner, album_id, uploader, "view").status_code == 200
    r = grant(client, owner, album_id, uploader, "upload")  # changing it
    assert r.status_code == 200 and r.json()["permission"] == "upload"
    assert r.json()["grantedBy"] == owner.user_id
    assert grant(client, owner, album_id, viewer, "view").status_code == 200
    r = client.get(path, headers=owner.headers)
    assert r.status_code == 200, r.text
    assert {(c["userId"], c["permission"]) for c in r.json()["collaborators"]} == {
        (uploader.user_id, "upload"),
        (viewer.user_id, "view"),
    }

    # Bad paths: unknown user, bad permission, not the owner, not visible.
    r = client.put(f"{path}/u_missing", headers=owner.headers, json={"permission": "view"})
    assert_problem(r, 404, "not_found")
    assert_problem(grant(client, owner, album_id, stranger, "owner"), 422, "validation_error")
    assert_problem(grant(client, uploader, album_id, stranger, "view"), 403, "forbidden")
    assert_problem(grant(client, stranger, album_id, viewer, "edit"), 404, "not_found")
    assert_problem(client.get(path, headers=viewer.headers), 403, "forbidden")
    assert_problem(client.get(path), 401, "unauthorized")
    r = client.delete(f"{path}/{uploader.user_id}", headers=viewer.headers)
    assert_problem(r, 403, "forbidden")

    # upload: add images you can see; take out only your own additions.
    uploaders_image = image(client, uploader)
    r = add(client, uploader, album_id, uploaders_image)
    assert r.status_code == 200 and r.json()["permission"] == "upload"
    r = client.delete(f"/v1/albums/{album_id}/images/{owners_image}", headers=uploader.headers)
    assert_problem(r, 403, "forbidden")
    r = client.request(
        "DELETE",
        f"/v1/albums/{album_id}/images",
        headers=uploader.headers,
        json={"imageIds": [uploaders_image, owners_image]},
    )
    assert_problem(r, 403, "forbidden")
    assert listed(client, album_id, owner) == [owners_image, uploaders_image]
    r = client.delete(f"/v1/albums/{album_id}/images/{uploaders_image}", headers=uploader.headers)
    assert r.status_code == 200 and listed(client, album_id, owner) == [owners_image]

    # A collaborator may leave; the owner may remove anyone.
    assert client.delete(f"{path}/{viewer.user_id}", headers=viewer.headers).status_code == 204
    assert_problem(client.get(f"/v1/albums/{album_id}", headers=viewer.headers), 404, "not_found")
    assert client.delete(f"{path}/{uploader.user_id}", headers=owner.headers).status_code == 204
    assert_problem(
        client.delete(f"{path}/{uploader.user_id}", headers=owner.headers), 404, "not_found"
    )
    assert client.get(path, headers=owner.headers).json()["collaborators"] == []


def test_org_albums(client: httpx.Client) -> None:
    boss, admin, member, viewer, outsider = (make_user(client) for _ in range(5))
    org_id = create_org(client, boss)["orgId"]
    join(client, boss, org_id, admin, "admin")
    join(client, boss, org_id, member, "member")
    join(client, boss, org_id, viewer, "viewer")

    # Shared: members reach it by role (a private org album is its managers' alone).
    body = {"title": "Team", "orgId": org_id, "visibility": "shared"}
    r = client.post("/v1/albums", headers=admin.headers, json=body)
    assert r.status_code == 201, r.text
    album = r.json()
    album_id = album["albumId"]
    assert album["orgId"] == org_id and album["permission"] == "owner"
    for who, status, code in (
        (member, 403, "forbidden"),
        (viewer, 403, "forbidden"),
        (outsider, 404, "not_found"),
    ):
        r = client.post("/v1/albums", headers=who.headers, json={"title": "x", "orgId": org_id})
        assert_problem(r, status, code)
    r = client.post("/v1/albums", headers=boss.headers, json={"title": "x", "orgId": "org_missing"})
    assert_problem(r, 404, "not_found")

    # Members see org albums by role, and list them.
    path = f"/v1/albums/{album_id}"
    assert client.get(path, headers=boss.headers).json()["permission"] == "owner"
    assert client.get(path, headers=member.headers).json()["permission"] == "download"
    assert client.get(path, headers=viewer.headers).json()["permission"] == "view"
    assert_problem(client.get(path, headers=outsider.headers), 404, "not_found")
    r = client.get("/v1/albums", headers=viewer.headers)
    assert [a["albumId"] for a in r.json()["albums"]] == [album_id]

    # A member uploads only with an explicit grant.
    members_image = image(client, member)
    assert_problem(add(client, member, album_id, members_image), 403, "forbidden")
    assert_problem(grant(client, admin, album_id, outsider, "upload"), 409, "not_an_org_member")
    assert_problem(grant(client, member, album_id, viewer, "upload"), 403, "forbidden")
    assert grant(client, admin, album_id, member, "upload").status_code == 200
    r = add(client, member, album_id, members_image)
    assert r.status_code == 200, r.text
    assert r.json()["permission"] == "upload" and r.json()["imageCount"] == 1
    assert listed(client, album_id, viewer) == [members_image]
    # Visibility is for org owners and admins (and the album's creator).
    r = client.patch(path, headers=member.headers, json={"visibility": "public"})
    assert_problem(r, 403, "forbidden")
    r = client.patch(path, headers=boss.headers, json={"visibility": "public"})
    assert r.status_code == 200 and r.json()["visibility"] == "public"


def test_pagination(client: httpx.Client) -> None:
    owner = make_user(client)
    ids = [image(client, owner) for _ in range(5)]
    album_id = create_album(client, owner)["albumId"]
    assert add(client, owner, album_id, *reversed(ids)).status_code == 200
    pages = []
    for page in (1, 2, 3, 4):
        r = client.get(
            f"/v1/albums/{album_id}/images",
            headers=owner.headers,
            params={"page": page, "limit": 2},
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["page"], body["limit"], body["total"]) == (page, 2, 5)
        pages.append([i["imageId"] for i in body["images"]])
    assert pages == [ids[4:2:-1], ids[2:0:-1], ids[:1], []]

    for n in range(3):
        create_album(client, owner, title=f"A{n}")
    r = client.get("/v1/albums", headers=owner.headers, params={"page": 2, "limit": 3})
    body = r.json()
    assert body["total"] == 4 and len(body["albums"]) == 1
    assert body["albums"][0]["albumId"] == album_id and body["albums"][0]["imageCount"] == 5


def test_share_link_reads(client: httpx.Client, live: LiveServer) -> None:
    owner = make_user(client)
    private = image(client, owner, "shared")
    public = image(client, owner)
    album_id = create_album(client, owner, visibility="shared")["albumId"]
    assert add(client, owner, album_id, private, public).status_code == 200
    link_id = new_id("lnk")
    run_sql(
        live.settings,
        insert(ShareLink).values(
            id=link_id,
            album_id=album_id,
            created_by=owner.user_id,
            permissions=["view"],
            views=0,
            created_at=utcnow(),
        ),
    )
    keys = SigningKeys.parse(live.settings.signing_keys, live.settings.secret_key)
    token = mint_link_grant(keys, link_id, int(time.time()) + 300)

    r = client.get(f"/v1/albums/{album_id}", params={"share": token})
    assert r.status_code == 200, r.text
    assert r.json()["permission"] == "view" and r.json()["imageCount"] == 2
    r = client.get(f"/v1/albums/{album_id}/images", params={"share": token})
    assert [i["imageId"] for i in r.json()["images"]] == [private, public]
    # The grant is for reading this album only.
    assert_problem(client.get(f"/v1/albums/{album_id}"), 404, "not_found")
    other = create_album(client, owner)["albumId"]
    r = client.get(f"/v1/albums/{other}", params={"share": token})
    assert_problem(r, 404, "not_found")
    r = client.get(f"/v1/albums/{album_id}", params={"share": "lnk_x.1.k0.sig"})
    assert_problem(r, 403, "share_token_invalid")
