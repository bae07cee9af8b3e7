"""A bearer credential that does not verify, sent to the delivery routes.

Public and unlisted images are served as to an anonymous caller (a stale token
in a browser, an app or a CDN must not break public embeds); a private image
answers 401 ``invalid_token``; the API's JSON routes keep their 401 so a client
learns to refresh. Whoever is served this way pays from the address's budget.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from imghost.auth.tokens import issue_access_token
from tests.conftest import LiveServer
from tests.factories import UserHandle, assert_problem, image_bytes, make_user, upload_ok


def _bad_credentials(client: httpx.Client, live: LiveServer, user: UserHandle) -> dict[str, str]:
    """Every kind of bearer that does not verify, by name."""
    created = client.post("/v1/users/me/api-keys", headers=user.headers, json={"name": "old"})
    assert created.status_code == 201, created.text
    key = created.json()
    r = client.delete(f"/v1/users/me/api-keys/{key['keyId']}", headers=user.headers)
    assert r.status_code == 204
    ended = make_user(client)
    r = client.post("/v1/auth/logout", json={"refreshToken": ended.refresh_token})
    assert r.status_code == 204
    now = dt.datetime.now(dt.UTC)
    long_ago = now - dt.timedelta(hours=2)
    expired = issue_access_token(live.settings.secret_key, user.user_id, "ses_gone", 60, long_ago)
    return {
        "garbage": "not-a-token",
        "expired": expired,
        "forged": issue_access_token(
            "not the server secret, but as long" * 2, user.user_id, "ses_x", 600, now
        ),
        "revoked api key": key["key"],
        "ended session": ended.access_token,
    }


def test_public_and_unlisted_images_ignore_a_bad_bearer(
    client: httpx.Client, live: LiveServer
) -> None:
    owner = make_user(client)
    data = image_bytes("PNG", size=(80, 60))
    public = upload_ok(client, owner, data=data, visibility="public")["imageId"]
    unlisted = upload_ok(client, owner, data=data, visibility="unlisted")["imageId"]
    bad = _bad_credentials(client, live, owner)
    for image_id in (public, unlisted):
        anonymous = client.get(f"/images/{image_id}")
        assert anonymous.status_code == 200
        for name, token in bad.items():
            auth = {"Authorization": f"Bearer {token}"}
            r = client.get(f"/images/{image_id}", headers=auth)
            assert r.status_code == 200, (name, r.text)
            # Exactly the anonymous answer: same bytes, same caching.
            assert r.content == anonymous.content == data, name
            assert r.headers["cache-control"] == anonymous.headers["cache-control"], name
            assert r.headers["cache-control"].startswith("public"), name
            head = client.head(f"/images/{image_id}", headers=auth)
            assert head.status_code == 200, name
            thumb = client.get(f"/images/{image_id}/thumb.jpg", headers=auth)
            assert thumb.status_code == 200, name
            assert thumb.headers["content-type"] == "image/jpeg"
            small = client.get(f"/images/{image_id}/t/w_40.png", headers=auth)
            assert small.status_code == 200, (name, small.text)
        # A good token is still honoured (the owner is recognised: no shared caching).
        mine = client.get(f"/images/{image_id}", headers=owner.headers)
        assert mine.status_code == 200
        assert mine.headers["cache-control"] == "private, no-store"


def test_a_bad_bearer_still_fails_where_it_matters(client: httpx.Client, live: LiveServer) -> None:
    owner = make_user(client)
    private = upload_ok(client, owner, visibility="private")["imageId"]
    public = upload_ok(client, owner, visibility="public")["imageId"]
    for name, token in _bad_credentials(client, live, owner).items():
        auth: dict[str, Any] = {"Authorization": f"Bearer {token}"}
        # A private image: the token is the problem, and the client is told so.
        for path in (f"/images/{private}", f"/images/{private}/thumb.jpg"):
            r = client.get(path, headers=auth)
            body = assert_problem(r, 401, "invalid_token")
            assert r.headers["www-authenticate"] == "Bearer", name
            assert body["code"] == "invalid_token"
        assert client.head(f"/images/{private}", headers=auth).status_code == 401
        # The API's JSON routes refuse it for every image (refresh, then ask again).
        for path in (f"/v1/images/{public}", f"/v1/images/{public}/metadata"):
            assert_problem(client.get(path, headers=auth), 401, "invalid_token")
    # A bad share grant beside a bad bearer is not ignored: it was made for this URL.
    r = client.get(
        f"/images/{public}", params={"share": "x.y.z.w"}, headers={"Authorization": "Bearer nope"}
    )
    assert_problem(r, 403, "share_token_invalid")
