"""Album grants reach only images their owner (or an org admin) put in the album.

Otherwise adding an image you may merely see to an album you may edit would
raise your own access to it, and that of everyone the album is shared with.
"""

from __future__ import annotations

import httpx

from tests.factories import UserHandle, assert_problem, make_user, upload_ok


def put_collaborator(
    client: httpx.Client, owner: UserHandle, album: str, user: UserHandle, permission: str
) -> None:
    r = client.put(
        f"/v1/albums/{album}/collaborators/{user.user_id}",
        headers=owner.headers,
        json={"permission": permission},
    )
    assert r.status_code == 200, r.text


def album_image_ids(client: httpx.Client, user: UserHandle, album: str) -> set[str]:
    r = client.get(f"/v1/albums/{album}/images", headers=user.headers)
    assert r.status_code == 200, r.text
    return {i["imageId"] for i in r.json()["images"]}


def test_adding_an_image_does_not_raise_access(client: httpx.Client) -> None:
    owner, editor, viewer = make_user(client), make_user(client), make_user(client)
    public = upload_ok(client, owner)["imageId"]
    private = upload_ok(client, owner, visibility="private")["imageId"]
    r = client.put(
        f"/v1/images/{private}/collaborators/{editor.user_id}",
        headers=owner.headers,
        json={"permission": "view"},
    )
    assert r.status_code == 200, r.text
    album = client.post(
        "/v1/albums", headers=owner.headers, json={"title": "X", "visibility": "private"}
    ).json()["albumId"]
    put_collaborator(client, owner, album, editor, "edit")
    put_collaborator(client, owner, album, viewer, "download")
    r = client.post(
        f"/v1/albums/{album}/images", headers=editor.headers, json={"imageIds": [public, private]}
    )
    assert r.status_code == 200, r.text
    # The editor gained nothing on either image.
    for image_id in (public, private):
        r = client.patch(f"/v1/images/{image_id}", headers=editor.headers, json={"title": "x"})
        assert_problem(r, 403, "forbidden")
    assert_problem(client.get(f"/images/{private}", headers=editor.headers), 403, "forbidden")
    assert client.get(f"/images/{private}/thumb.jpg", headers=editor.headers).status_code == 200
    # Nor did the album's other collaborator: the private image stays private to them.
    assert_problem(client.get(f"/v1/images/{private}", headers=viewer.headers), 403, "forbidden")
    assert album_image_ids(client, viewer, album) == {public}
    # Put there by its owner, the album does share it (download, never edit).
    client.delete(f"/v1/albums/{album}/images/{private}", headers=owner.headers)
    r = client.post(
        f"/v1/albums/{album}/images", headers=owner.headers, json={"imageIds": [private]}
    )
    assert r.status_code == 200, r.text
    assert client.get(f"/images/{private}", headers=viewer.headers).status_code == 200
    assert album_image_ids(client, viewer, album) == {public, private}
    r = client.patch(f"/v1/images/{private}", headers=editor.headers, json={"title": "x"})
    assert_problem(r, 403, "forbidden")  # an album grant never edits images
