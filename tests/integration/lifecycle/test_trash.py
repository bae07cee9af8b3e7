"""Soft delete, the trash and restore over HTTP on both backends: a deleted
image leaves every read path at once and comes back whole."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from sqlalchemy import select, update

from imghost.jobs.models import Job
from imghost.lifecycle.models import TrashEntry
from tests.conftest import LiveServer
from tests.factories import UserHandle, assert_problem, image_bytes, make_user, upload_ok
from tests.helpers.context import with_ctx
from tests.helpers.db import run_sql
from tests.integration.lifecycle.helpers import image_keys


def album_with(client: httpx.Client, user: UserHandle, image_id: str) -> str:
    r = client.post("/v1/albums", headers=user.headers, json={"title": "Trip"})
    assert r.status_code == 201, r.text
    album_id: str = r.json()["albumId"]
    r = client.post(
        f"/v1/albums/{album_id}/images", headers=user.headers, json={"imageIds": [image_id]}
    )
    assert r.status_code in (200, 201), r.text
    return album_id


def listed_ids(r: httpx.Response) -> list[str]:
    assert r.status_code == 200, r.text
    return [i["imageId"] for i in r.json()["images"]]


def read_paths(
    client: httpx.Client, owner: UserHandle, image_id: str, album_id: str, word: str
) -> dict[str, bool]:
    """Whether each read path shows the image (to its owner, where it matters)."""
    h = owner.headers
    shown = {
        path: client.get(path, headers=h).status_code == 200
        for path in (
            f"/v1/images/{image_id}",
            f"/v1/images/{image_id}/metadata",
            f"/images/{image_id}",
            f"/images/{image_id}/metadata",
            f"/images/{image_id}/thumb.jpg",
            f"/images/{image_id}/medium.webp",
            f"/images/{image_id}/t/w_20,h_20,c_cover.png",
        )
    }
    shown["anonymous original"] = client.get(f"/images/{image_id}").status_code == 200
    shown["user listing"] = image_id in listed_ids(
        client.get(f"/v1/users/{owner.user_id}/images", headers=h)
    )
    shown["search"] = image_id in listed_ids(
        client.get("/v1/images", params={"q": word, "user": owner.user_id}, headers=h)
    )
    shown["public search"] = image_id in listed_ids(client.get("/v1/images", params={"q": word}))
    shown["album"] = image_id in listed_ids(client.get(f"/v1/albums/{album_id}/images", headers=h))
    return shown


def test_delete_hides_everywhere_and_restore_brings_everything_back(
    client: httpx.Client, live: LiveServer
) -> None:
    owner, friend = make_user(client), make_user(client)
    word = f"lighthouse{owner.user_id[-6:]}"
    image = upload_ok(client, owner, title=f"The {word}", tags="coast,summer")
    image_id = image["imageId"]
    album_id = album_with(client, owner, image_id)
    r = client.put(
        f"/v1/images/{image_id}/collaborators/{friend.user_id}",
        headers=owner.headers,
        json={"permission": "edit"},
    )
    assert r.status_code in (200, 201), r.text
    link = client.post(f"/v1/images/{image_id}/links", headers=owner.headers, json={}).json()
    signed = client.post(
        f"/v1/images/{image_id}/share", headers=owner.headers, json={"expiresIn": 600}
    ).json()
    signed_path = urlsplit(signed["shareUrl"]).path
    signed_query = dict(parse_qsl(urlsplit(signed["shareUrl"]).query))
    opened = client.post(f"/v1/links/{link['linkId']}/open", json={})
    assert opened.status_code == 200, opened.text
    share = {"share": opened.json()["token"]}
    thumb = client.get(f"/images/{image_id}/thumb.jpg").content
    before = read_paths(client, owner, image_id, album_id, word)
    assert all(before.values()), before
    stored = image_keys(live, owner.user_id, image_id)
    assert f"{owner.user_id}/{image_id}/original" in stored and len(stored) > 2

    r = client.delete(f"/v1/images/{image_id}", headers=owner.headers)
    assert r.status_code == 200, r.text
    deleted = r.json()
    assert deleted["imageId"] == image_id and deleted["deleted"] is True
    assert deleted["purged"] is False
    deleted_at = dt.datetime.fromisoformat(deleted["deletedAt"])
    purge_at = dt.datetime.fromisoformat(deleted["purgeAt"])
    assert purge_at - deleted_at == dt.timedelta(seconds=live.settings.trash_retention)

    after = read_paths(client, owner, image_id, album_id, word)
    assert not any(after.values()), after
    # ... to everyone and through every credential.
    assert client.get(f"/v1/images/{image_id}", headers=friend.headers).status_code == 404
    assert client.get(signed_path, params=signed_query).status_code == 404
    assert client.get(f"/images/{image_id}/small.jpg", params=share).status_code == 404
    # Opening the link answers as if it did not exist.
    r = client.post(f"/v1/links/{link['linkId']}/open", json={})
    assert_problem(r, 404, "not_found")
    # Bytes and their rows stay while it is in the trash.
    assert image_keys(live, owner.user_id, image_id) == stored

    trash = client.get("/v1/trash", headers=owner.headers).json()
    assert trash["total"] == 1 and trash["retentionSeconds"] == live.settings.trash_retention
    item = trash["images"][0]
    assert item["imageId"] == image_id and item["restorable"] is True
    assert item["tags"] == ["coast", "summer"] and item["purgeAt"] == deleted["purgeAt"]
    assert client.get("/v1/trash", headers=friend.headers).json()["total"] == 0

    # Deleting again changes nothing: same window, still in the trash.
    again = client.delete(f"/v1/images/{image_id}", headers=owner.headers)
    assert again.status_code == 200 and again.json()["purgeAt"] == deleted["purgeAt"]

    r = client.post(f"/v1/images/{image_id}/restore", headers=owner.headers)
    assert r.status_code == 200, r.text
    restored = r.json()
    assert restored["imageId"] == image_id and restored["tags"] == ["coast", "summer"]
    assert restored["status"] == "ready" and restored["visibility"] == image["visibility"]

    back = read_paths(client, owner, image_id, album_id, word)
    assert all(back.values()), back
    assert client.get(f"/images/{image_id}/thumb.jpg").content == thumb
    assert client.get(f"/v1/images/{image_id}", headers=friend.headers).status_code == 200
    r = client.patch(f"/v1/images/{image_id}", headers=friend.headers, json={"title": "Edited"})
    assert r.status_code == 200, r.text
    assert client.get(signed_path, params=signed_query).status_code == 200
    assert client.post(f"/v1/links/{link['linkId']}/open", json={}).status_code == 200
    assert client.get(f"/images/{image_id}/small.jpg", params=share).status_code == 200
    assert client.get("/v1/trash", headers=owner.headers).json()["total"] == 0
    assert image_keys(live, owner.user_id, image_id) == stored
    # Restoring a live image is a no-op.
    r = client.post(f"/v1/images/{image_id}/restore", headers=owner.headers)
    assert r.status_code == 200 and r.json()["title"] == "Edited"


def test_who_may_delete_and_restore(client: httpx.Client) -> None:
    owner, other = make_user(client), make_user(client)
    public = upload_ok(client, owner)["imageId"]
    private = upload_ok(client, owner, visibility="private")["imageId"]
    assert_problem(client.delete(f"/v1/images/{public}", headers=other.headers), 403, "forbidden")
    assert_problem(client.delete(f"/v1/images/{private}", headers=other.headers), 403, "forbidden")
    assert_problem(client.delete(f"/v1/images/{public}"), 401, "unauthorized")
    assert_problem(client.delete("/v1/images/img_missing", headers=owner.headers), 404, "not_found")
    for image_id in (public, private):
        assert client.delete(f"/v1/images/{image_id}", headers=owner.headers).status_code == 200
        # A deleted image exists only for those who may restore it.
        for verb in ("post", "delete"):
            path = f"/v1/images/{image_id}" + ("/restore" if verb == "post" else "")
            r = client.request(verb.upper(), path, headers=other.headers)
            assert_problem(r, 404, "not_found")
        r = client.delete(f"/v1/images/{image_id}?permanent=true", headers=other.headers)
        assert_problem(r, 404, "not_found")
    assert_problem(client.post(f"/v1/images/{public}/restore"), 401, "unauthorized")
    assert_problem(client.get("/v1/trash"), 401, "unauthorized")
    r = client.post("/v1/images/img_missing/restore", headers=owner.headers)
    assert_problem(r, 404, "not_found")
    assert client.post(f"/v1/images/{public}/restore", headers=owner.headers).status_code == 200


def test_restore_after_the_window_is_refused(client: httpx.Client, live: LiveServer) -> None:
    owner = make_user(client)
    image_id = upload_ok(client, owner)["imageId"]
    assert client.delete(f"/v1/images/{image_id}", headers=owner.headers).status_code == 200
    # The clock moves past the window (the sweep has not run yet).
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    run_sql(
        live.settings,
        update(TrashEntry).where(TrashEntry.image_id == image_id).values(purge_at=past),
    )
    item = client.get("/v1/trash", headers=owner.headers).json()["images"][0]
    assert item["restorable"] is False
    r = client.post(f"/v1/images/{image_id}/restore", headers=owner.headers)
    body = assert_problem(r, 410, "restore_window_passed")
    assert "window has passed" in body["detail"]
    assert client.get(f"/v1/images/{image_id}", headers=owner.headers).status_code == 404


def test_restore_when_its_album_was_deleted_meanwhile(client: httpx.Client) -> None:
    owner = make_user(client)
    image_id = upload_ok(client, owner)["imageId"]
    album_id = album_with(client, owner, image_id)
    assert client.delete(f"/v1/images/{image_id}", headers=owner.headers).status_code == 200
    assert client.delete(f"/v1/albums/{album_id}", headers=owner.headers).status_code in (200, 204)
    r = client.post(f"/v1/images/{image_id}/restore", headers=owner.headers)
    assert r.status_code == 200, r.text
    assert client.get(f"/images/{image_id}").status_code == 200
    assert client.get(f"/v1/albums/{album_id}", headers=owner.headers).status_code == 404
    # Deleting an album leaves its images alone.
    other_id = upload_ok(client, owner)["imageId"]
    second = album_with(client, owner, other_id)
    assert client.delete(f"/v1/albums/{second}", headers=owner.headers).status_code in (200, 204)
    assert client.get(f"/v1/images/{other_id}", headers=owner.headers).status_code == 200


def test_org_images_in_the_trash_follow_membership(client: httpx.Client) -> None:
    boss, member = make_user(client), make_user(client)
    r = client.post("/v1/orgs", json={"name": "Acme"}, headers=boss.headers)
    assert r.status_code == 201, r.text
    org_id = r.json()["orgId"]
    r = client.post(
        f"/v1/orgs/{org_id}/invitations",
        headers=boss.headers,
        json={"userId": member.user_id, "role": "member"},
    )
    assert r.status_code == 201, r.text
    r = client.post(f"/v1/invitations/{r.json()['invitationId']}/accept", headers=member.headers)
    assert r.status_code == 200, r.text
    r = client.post("/v1/albums", headers=boss.headers, json={"title": "Team", "orgId": org_id})
    album_id = r.json()["albumId"]
    r = client.put(
        f"/v1/albums/{album_id}/collaborators/{member.user_id}",
        headers=boss.headers,
        json={"permission": "upload"},
    )
    assert r.status_code in (200, 201), r.text
    image = upload_ok(client, member, albumId=album_id)
    image_id = image["imageId"]
    assert image["orgId"] == org_id
    assert client.delete(f"/v1/images/{image_id}", headers=member.headers).status_code == 200
    # The uploader and the org's owner both see it in their trash.
    for who in (member, boss):
        assert [
            i["imageId"] for i in client.get("/v1/trash", headers=who.headers).json()["images"]
        ] == [image_id]
    # Once the uploader leaves the org, the image is the org's: only its
    # owners and admins may restore it.
    r = client.delete(f"/v1/orgs/{org_id}/members/{member.user_id}", headers=member.headers)
    assert r.status_code in (200, 204), r.text
    assert client.get("/v1/trash", headers=member.headers).json()["total"] == 0
    r = client.post(f"/v1/images/{image_id}/restore", headers=member.headers)
    assert_problem(r, 404, "not_found")
    r = client.post(f"/v1/images/{image_id}/restore", headers=boss.headers)
    assert r.status_code == 200, r.text


def test_restoring_an_unprocessed_image_queues_its_processing(
    settings_factory: Any,
) -> None:
    # No worker: the image stays `processing`, as if deleted before its job ran.
    live = LiveServer(settings_factory(run_worker=False))
    with live, httpx.Client(base_url=live.url, timeout=60) as client:
        owner = make_user(client)
        r = client.post(
            "/v1/images",
            headers=owner.headers,
            files={"file": ("a.png", image_bytes("PNG"), "application/octet-stream")},
        )
        assert r.status_code == 201, r.text
        image_id = r.json()["imageId"]

        def jobs_queued() -> int:
            async def work(ctx: Any) -> int:
                async with ctx.sessions() as session:
                    found = await session.scalars(
                        select(Job.id).where(Job.image_id == image_id, Job.status == "queued")
                    )
                    return len(found.all())

            return with_ctx(live.settings, work)

        # The job ran (and skipped the deleted image) while it was in the trash.
        assert client.delete(f"/v1/images/{image_id}", headers=owner.headers).status_code == 200
        run_sql(live.settings, update(Job).where(Job.image_id == image_id).values(status="done"))
        assert jobs_queued() == 0
        r = client.post(f"/v1/images/{image_id}/restore", headers=owner.headers)
        assert r.status_code == 200 and r.json()["status"] == "processing"
        assert jobs_queued() == 1


def test_concurrent_deletes_and_restores_of_one_image(client: httpx.Client) -> None:
    owner = make_user(client)
    image_id = upload_ok(client, owner)["imageId"]

    def at_once(method: str, path: str) -> list[httpx.Response]:
        with ThreadPoolExecutor(6) as pool:
            return list(
                pool.map(lambda _: client.request(method, path, headers=owner.headers), range(6))
            )

    deleted = at_once("DELETE", f"/v1/images/{image_id}")
    assert [r.status_code for r in deleted] == [200] * 6, [r.text for r in deleted]
    assert len({r.json()["purgeAt"] for r in deleted}) == 1
    assert client.get("/v1/trash", headers=owner.headers).json()["total"] == 1
    restored = at_once("POST", f"/v1/images/{image_id}/restore")
    assert [r.status_code for r in restored] == [200] * 6, [r.text for r in restored]
    assert client.get(f"/images/{image_id}").status_code == 200
    assert client.get("/v1/trash", headers=owner.headers).json()["total"] == 0
