"""Collaborators (view / download / edit) and signed temporary URLs, end to end."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from imghost.settings import Settings
from tests.conftest import LiveServer
from tests.factories import assert_problem, make_user, upload_ok


def _path_and_query(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    return parts.path, dict(parse_qsl(parts.query))


def test_collaborator_permissions(client: httpx.Client) -> None:
    owner, viewer, downloader, editor, other = (make_user(client) for _ in range(5))
    img = upload_ok(client, owner, visibility="private")
    iid = img["imageId"]
    for user, perm in ((viewer, "view"), (downloader, "download"), (editor, "edit")):
        r = client.put(
            f"/v1/images/{iid}/collaborators/{user.user_id}",
            headers=owner.headers,
            json={"permission": perm},
        )
        assert r.status_code == 200, r.text
        assert r.json()["permission"] == perm and r.json()["username"] == user.username
    listed = client.get(f"/v1/images/{iid}/collaborators", headers=owner.headers).json()
    assert {c["userId"] for c in listed["collaborators"]} == {
        viewer.user_id,
        downloader.user_id,
        editor.user_id,
    }
    for user in (viewer, downloader, editor):
        assert client.get(f"/v1/images/{iid}", headers=user.headers).status_code == 200
        assert client.get(f"/images/{iid}/thumb.jpg", headers=user.headers).status_code == 200
    assert_problem(client.get(f"/images/{iid}", headers=viewer.headers), 403, "forbidden")
    assert client.get(f"/images/{iid}", headers=downloader.headers).status_code == 200
    assert_problem(client.get(f"/images/{iid}", headers=other.headers), 403, "forbidden")
    # edit: title/tags yes, visibility and deletion no
    r = client.patch(f"/v1/images/{iid}", headers=editor.headers, json={"title": "by editor"})
    assert r.status_code == 200 and r.json()["title"] == "by editor"
    r = client.patch(f"/v1/images/{iid}", headers=editor.headers, json={"visibility": "public"})
    assert_problem(r, 403, "forbidden")
    assert_problem(client.delete(f"/v1/images/{iid}", headers=editor.headers), 403, "forbidden")
    r = client.patch(f"/v1/images/{iid}", headers=downloader.headers, json={"title": "x"})
    assert_problem(r, 403, "forbidden")
    # collaborators cannot share onwards
    r = client.put(
        f"/v1/images/{iid}/collaborators/{other.user_id}",
        headers=editor.headers,
        json={"permission": "view"},
    )
    assert_problem(r, 403, "forbidden")
    r = client.post(f"/v1/images/{iid}/share", headers=editor.headers, json={"expiresIn": 60})
    assert_problem(r, 403, "forbidden")
    # revocation is immediate
    r = client.delete(f"/v1/images/{iid}/collaborators/{viewer.user_id}", headers=owner.headers)
    assert r.status_code == 204
    assert_problem(client.get(f"/v1/images/{iid}", headers=viewer.headers), 403, "forbidden")
    # a collaborator may leave on their own
    r = client.delete(f"/v1/images/{iid}/collaborators/{editor.user_id}", headers=editor.headers)
    assert r.status_code == 204
    assert_problem(
        client.delete(f"/v1/images/{iid}/collaborators/{editor.user_id}", headers=owner.headers),
        404,
        "not_found",
    )


def test_collaborator_bad_input(client: httpx.Client) -> None:
    owner = make_user(client)
    iid = upload_ok(client, owner)["imageId"]
    url = f"/v1/images/{iid}/collaborators"
    r = client.put(f"{url}/u_missing", headers=owner.headers, json={"permission": "view"})
    assert_problem(r, 404, "not_found")
    r = client.put(f"{url}/{owner.user_id}", headers=owner.headers, json={"permission": "view"})
    assert_problem(r, 400, "cannot_share_with_owner")
    r = client.put(f"{url}/{owner.user_id}", headers=owner.headers, json={"permission": "admin"})
    assert r.status_code == 422
    assert client.put(f"{url}/{owner.user_id}", json={"permission": "view"}).status_code == 401


def test_signed_url_lifecycle(client: httpx.Client) -> None:
    owner, other = make_user(client), make_user(client)
    iid = upload_ok(client, owner, visibility="private")["imageId"]
    r = client.post(f"/v1/images/{iid}/share", headers=owner.headers, json={"expiresIn": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["path"] == f"/images/{iid}/large.jpg" and body["permissions"] == ["view"]
    path, query = _path_and_query(body["shareUrl"])
    ok = client.get(path, params=query)
    assert ok.status_code == 200 and ok.headers["content-type"] == "image/jpeg"
    cache = ok.headers["cache-control"]
    assert cache.startswith("private, max-age=") and int(cache.rsplit("=", 1)[1]) <= 3
    # a different variant, a tampered signature, another image: refused
    assert_problem(client.get(f"/images/{iid}/medium.jpg", params=query), 403, "signature_invalid")
    bad = {**query, "sig": query["sig"][:-1] + ("A" if query["sig"][-1] != "A" else "B")}
    assert_problem(client.get(path, params=bad), 403, "signature_invalid")
    longer = {**query, "exp": str(int(query["exp"]) + 3600)}
    assert_problem(client.get(path, params=longer), 403, "signature_invalid")
    more = {**query, "perm": "download,view"}
    assert_problem(client.get(path, params=more), 403, "signature_invalid")
    # others cannot sign; the original needs download
    r = client.post(f"/v1/images/{iid}/share", headers=other.headers, json={"expiresIn": 60})
    assert_problem(r, 403, "forbidden")
    r = client.post(
        f"/v1/images/{iid}/share",
        headers=owner.headers,
        json={"expiresIn": 60, "variant": "original"},
    )
    assert_problem(r, 400, "permission_insufficient")
    time.sleep(max(0.0, int(query["exp"]) - time.time() + 0.1))
    assert_problem(client.get(path, params=query), 403, "signature_expired")


@pytest.mark.parametrize(
    ("variant", "permissions"),
    [
        ("original", ["download"]),
        ("medium.webp", ["view"]),
        ("t/w_100,h_80,c_cover.png", ["view"]),
        ("metadata", ["view"]),
    ],
)
def test_signed_url_variants(client: httpx.Client, variant: str, permissions: list[str]) -> None:
    owner = make_user(client)
    iid = upload_ok(client, owner, visibility="private")["imageId"]
    r = client.post(
        f"/v1/images/{iid}/share",
        headers=owner.headers,
        json={"expiresIn": 600, "permissions": permissions, "variant": variant},
    )
    assert r.status_code == 200, r.text
    path, query = _path_and_query(r.json()["shareUrl"])
    got = client.get(path, params=query)
    assert got.status_code == 200, got.text
    assert "public" not in got.headers["cache-control"]
    assert_problem(client.get(path), 403, "forbidden")  # without the signature


def test_signed_url_bad_requests(client: httpx.Client) -> None:
    owner = make_user(client)
    iid = upload_ok(client, owner)["imageId"]
    url = f"/v1/images/{iid}/share"
    for body, code in (
        ({"expiresIn": 10**9}, "expires_in_too_long"),
        ({"expiresIn": 60, "variant": "huge.jpg"}, "invalid_variant"),
        ({"expiresIn": 60, "variant": "t/w_abc.webp"}, "invalid_transform"),
    ):
        assert_problem(client.post(url, headers=owner.headers, json=body), 400, code)
    assert client.post(url, headers=owner.headers, json={"expiresIn": 0}).status_code == 422
    assert client.post(url, json={"expiresIn": 60}).status_code == 401


def test_rotated_key_keeps_old_urls(settings_factory: Callable[..., Settings]) -> None:
    old = "old:" + "o" * 32
    new = "new:" + "n" * 32
    with (
        LiveServer(settings_factory(signing_keys=old)) as live,
        httpx.Client(base_url=live.url, timeout=30) as client,
    ):
        owner = make_user(client)
        iid = upload_ok(client, owner, visibility="private")["imageId"]
        r = client.post(f"/v1/images/{iid}/share", headers=owner.headers, json={"expiresIn": 600})
        path, query = _path_and_query(r.json()["shareUrl"])
        assert query["kid"] == "old"
    with (
        LiveServer(settings_factory(signing_keys=f"{new},{old}")) as live,
        httpx.Client(base_url=live.url, timeout=30) as client,
    ):
        assert client.get(path, params=query).status_code == 200
        r = client.post(f"/v1/images/{iid}/share", headers=owner.headers, json={"expiresIn": 60})
        assert _path_and_query(r.json()["shareUrl"])[1]["kid"] == "new"
    with (
        LiveServer(settings_factory(signing_keys=new)) as live,
        httpx.Client(base_url=live.url, timeout=30) as client,
    ):
        assert_problem(client.get(path, params=query), 403, "signature_invalid")
