"""Collaborator grants with an end (`expiresAt`): on images, albums and shares by e-mail.

A grant counts until its expiry; one that ended a second ago is no grant at
all, for single reads, listings and search alike, with nothing swept.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from imghost.albums.models import AlbumCollaborator
from imghost.sharing import services as sharing
from imghost.sharing.models import ImageCollaborator
from tests.conftest import LiveServer
from tests.factories import UserHandle, assert_problem, make_user, upload_ok
from tests.helpers.db import fetch, run_sql
from tests.integration.sharing.test_share_by_email import run_db


def _at(delta: dt.timedelta) -> str:
    return (dt.datetime.now(dt.UTC) + delta).isoformat().replace("+00:00", "Z")


DAY = dt.timedelta(days=1)


def _parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _end_image_grant(live: LiveServer, image_id: str, user_id: str) -> None:
    """The grant ended a second ago (set behind the API's back: it refuses a past time)."""
    run_sql(
        live.settings,
        update(ImageCollaborator)
        .where(ImageCollaborator.image_id == image_id, ImageCollaborator.user_id == user_id)
        .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)),
    )


def _end_album_grant(live: LiveServer, album_id: str, user_id: str) -> None:
    run_sql(
        live.settings,
        update(AlbumCollaborator)
        .where(AlbumCollaborator.album_id == album_id, AlbumCollaborator.user_id == user_id)
        .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)),
    )


def _listed(client: httpx.Client, caller: UserHandle, **params: str) -> set[str]:
    r = client.get("/v1/images", headers=caller.headers, params={"limit": "100", **params})
    assert r.status_code == 200, r.text
    return {i["imageId"] for i in r.json()["images"]}


def _visible_everywhere(
    client: httpx.Client, friend: UserHandle, owner: UserHandle, image_id: str
) -> bool:
    """Whether ``friend`` finds the image by id, in listings and in search: all
    of them must agree."""
    by_id = client.get(f"/v1/images/{image_id}", headers=friend.headers).status_code
    assert by_id in (200, 403), by_id
    found = [
        image_id in _listed(client, friend),
        image_id in _listed(client, friend, user=owner.user_id),
        image_id in _listed(client, friend, q="photo"),
        image_id in _listed(client, friend, q="photo", sort="relevance"),
    ]
    r = client.get(f"/v1/users/{owner.user_id}/images", headers=friend.headers)
    found.append(image_id in {i["imageId"] for i in r.json()["images"]})
    assert found == [by_id == 200] * len(found), (by_id, found)
    return by_id == 200


def test_image_grant_counts_until_it_expires(live: LiveServer, client: httpx.Client) -> None:
    owner, friend = make_user(client), make_user(client)
    iid = upload_ok(client, owner, visibility="private")["imageId"]
    assert not _visible_everywhere(client, friend, owner, iid)
    ends = _at(DAY)
    r = client.post(
        f"/v1/images/{iid}/collaborators",
        headers=owner.headers,
        json={"sharedWith": friend.username, "permission": "download", "expiresAt": ends},
    )
    assert r.status_code == 200, r.text
    assert abs(_parse(r.json()["expiresAt"]) - _parse(ends)) < dt.timedelta(milliseconds=1)
    assert r.json()["visibility"] == "shared"
    listed = client.get(f"/v1/images/{iid}/collaborators", headers=owner.headers).json()
    assert [c["expiresAt"] for c in listed["collaborators"]] == [r.json()["expiresAt"]]
    assert _visible_everywhere(client, friend, owner, iid)
    assert client.get(f"/images/{iid}", headers=friend.headers).status_code == 200

    # Ended one second ago: as if there were no grant (403 on a shared image).
    _end_image_grant(live, iid, friend.user_id)
    assert_problem(client.get(f"/v1/images/{iid}", headers=friend.headers), 403, "forbidden")
    assert_problem(client.get(f"/images/{iid}", headers=friend.headers), 403, "forbidden")
    assert not _visible_everywhere(client, friend, owner, iid)
    listed = client.get(f"/v1/images/{iid}/collaborators", headers=owner.headers).json()
    assert listed["collaborators"] == []

    # Given again (PUT replaces the whole grant): without an end, it lasts.
    r = client.put(
        f"/v1/images/{iid}/collaborators/{friend.user_id}",
        headers=owner.headers,
        json={"permission": "view"},
    )
    assert r.status_code == 200 and r.json()["expiresAt"] is None, r.text
    assert _visible_everywhere(client, friend, owner, iid)
    # A PUT sets an end, a later one without it clears it again.
    url = f"/v1/images/{iid}/collaborators/{friend.user_id}"
    r = client.put(url, headers=owner.headers, json={"permission": "view", "expiresAt": ends})
    assert r.status_code == 200 and r.json()["expiresAt"] is not None, r.text
    r = client.put(url, headers=owner.headers, json={"permission": "view", "expiresAt": None})
    assert r.status_code == 200 and r.json()["expiresAt"] is None, r.text
    rows = fetch(
        live.settings,
        ImageCollaborator.__table__.select().where(ImageCollaborator.image_id == iid),
    )
    assert [row.expires_at for row in rows] == [None]


# Times relative to now are made in the test: parameters must be the same in
# every xdist worker that collects them.
RELATIVE = {"a second ago": -dt.timedelta(seconds=1), "in 10 years and a week": 3660 * DAY}


@pytest.mark.parametrize(
    ("expires_at", "status", "code"),
    [
        ("a second ago", 422, "expires_at_in_past"),
        ("in 10 years and a week", 422, "expires_at_too_far"),
        ("2030-01-31T12:00:00", 422, "invalid_expires_at"),  # no offset
        ("next tuesday", 422, "validation_error"),
        ("2030-13-01T00:00:00Z", 422, "validation_error"),
        (1900000000, 422, "validation_error"),  # Unix seconds are not RFC 3339
    ],
)
def test_bad_expiry_is_refused_and_writes_nothing(
    client: httpx.Client, expires_at: Any, status: int, code: str
) -> None:
    if expires_at in RELATIVE:
        expires_at = _at(RELATIVE[expires_at])
    owner, friend = make_user(client), make_user(client)
    iid = upload_ok(client, owner, visibility="private")["imageId"]
    r = client.post("/v1/albums", headers=owner.headers, json={"title": "A"})
    assert r.status_code == 201, r.text
    aid = r.json()["albumId"]
    calls = [
        ("POST", f"/v1/images/{iid}/collaborators", {"sharedWith": friend.user_id}),
        ("POST", f"/v1/images/{iid}/collaborators", {"sharedWith": "x@example.com"}),
        ("PUT", f"/v1/images/{iid}/collaborators/{friend.user_id}", {}),
        ("POST", f"/v1/albums/{aid}/collaborators", {"sharedWith": friend.username}),
        ("POST", f"/v1/albums/{aid}/collaborators", {"sharedWith": "x@example.com"}),
        ("PUT", f"/v1/albums/{aid}/collaborators/{friend.user_id}", {}),
    ]
    for method, url, body in calls:
        body = {**body, "permission": "view", "expiresAt": expires_at}
        assert_problem(client.request(method, url, headers=owner.headers, json=body), status, code)
    # Nothing was granted, invited or widened.
    for kind, target in (("images", iid), ("albums", aid)):
        r = client.get(f"/v1/{kind}/{target}/collaborators", headers=owner.headers)
        assert r.json() == {"collaborators": [], "pending": []}
    assert client.get(f"/v1/images/{iid}", headers=owner.headers).json()["visibility"] == "private"
    assert client.get(f"/v1/albums/{aid}", headers=owner.headers).json()["visibility"] == "private"
    # A caller who may not share the image learns nothing about the body.
    r = client.post(
        f"/v1/images/{iid}/collaborators",
        headers=friend.headers,
        json={"sharedWith": owner.user_id, "permission": "view", "expiresAt": _at(DAY)},
    )
    assert_problem(r, 403, "forbidden")


def test_album_grant_expires(live: LiveServer, client: httpx.Client) -> None:
    owner, friend = make_user(client), make_user(client)
    iid = upload_ok(client, owner, visibility="shared")["imageId"]
    r = client.post("/v1/albums", headers=owner.headers, json={"title": "Trip"})
    aid = r.json()["albumId"]
    r = client.post(f"/v1/albums/{aid}/images", headers=owner.headers, json={"imageIds": [iid]})
    assert r.status_code == 200, r.text
    r = client.post(
        f"/v1/albums/{aid}/collaborators",
        headers=owner.headers,
        json={"sharedWith": friend.user_id, "permission": "download", "expiresAt": _at(DAY)},
    )
    assert r.status_code == 200 and r.json()["expiresAt"], r.text
    listed = client.get(f"/v1/albums/{aid}/collaborators", headers=owner.headers).json()
    assert listed["collaborators"][0]["expiresAt"] == r.json()["expiresAt"]
    assert client.get(f"/v1/albums/{aid}", headers=friend.headers).status_code == 200
    mine = client.get("/v1/albums", headers=friend.headers).json()["albums"]
    assert [a["albumId"] for a in mine] == [aid]
    assert client.get(f"/images/{iid}", headers=friend.headers).status_code == 200
    assert _visible_everywhere(client, friend, owner, iid)

    _end_album_grant(live, aid, friend.user_id)
    assert_problem(client.get(f"/v1/albums/{aid}", headers=friend.headers), 404, "not_found")
    assert_problem(client.get(f"/v1/albums/{aid}/images", headers=friend.headers), 404, "not_found")
    assert client.get("/v1/albums", headers=friend.headers).json()["albums"] == []
    assert_problem(client.get(f"/images/{iid}", headers=friend.headers), 403, "forbidden")
    assert not _visible_everywhere(client, friend, owner, iid)
    listed = client.get(f"/v1/albums/{aid}/collaborators", headers=owner.headers).json()
    assert listed["collaborators"] == []
    # Given again, it is a new grant (no end this time).
    r = client.put(
        f"/v1/albums/{aid}/collaborators/{friend.user_id}",
        headers=owner.headers,
        json={"permission": "view"},
    )
    assert r.status_code == 200 and r.json()["expiresAt"] is None, r.text
    assert client.get(f"/v1/albums/{aid}", headers=friend.headers).status_code == 200


def test_a_claimed_share_keeps_its_expiry(live: LiveServer, client: httpx.Client) -> None:
    owner, invitee = make_user(client), make_user(client)
    iid = upload_ok(client, owner, visibility="shared")["imageId"]
    r = client.post("/v1/albums", headers=owner.headers, json={"title": "Trip"})
    aid = r.json()["albumId"]
    # An earlier grant on the image that has ended does not stand in the way.
    r = client.post(
        f"/v1/images/{iid}/collaborators",
        headers=owner.headers,
        json={"sharedWith": invitee.user_id, "permission": "edit"},
    )
    assert r.status_code == 200, r.text
    _end_image_grant(live, iid, invitee.user_id)
    ends = _at(dt.timedelta(hours=2))
    for kind, target in (("images", iid), ("albums", aid)):
        r = client.post(
            f"/v1/{kind}/{target}/collaborators",
            headers=owner.headers,
            json={"sharedWith": invitee.email, "permission": "view", "expiresAt": ends},
        )
        assert r.status_code == 202, r.text
        body = r.json()
        # The invitation never outlasts the grant it carries.
        assert body["grantExpiresAt"] is not None
        assert _parse(body["expiresAt"]) <= _parse(body["grantExpiresAt"])
        pending = client.get(f"/v1/{kind}/{target}/collaborators", headers=owner.headers).json()
        assert pending["pending"][0]["grantExpiresAt"] == body["grantExpiresAt"]
    assert run_db(live, sharing.claim_pending_shares, invitee.user_id, invitee.email) == 2
    for kind, target in (("images", iid), ("albums", aid)):
        listed = client.get(f"/v1/{kind}/{target}/collaborators", headers=owner.headers).json()
        (grant,) = listed["collaborators"]
        assert grant["permission"] == "view"
        assert abs(_parse(grant["expiresAt"]) - _parse(ends)) < dt.timedelta(milliseconds=1)
    assert client.get(f"/v1/images/{iid}", headers=invitee.headers).status_code == 200
    assert client.get(f"/v1/albums/{aid}", headers=invitee.headers).status_code == 200
