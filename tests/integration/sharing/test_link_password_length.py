"""A share-link password has at least 8 characters (image and album links)."""

from __future__ import annotations

import httpx

from tests.factories import assert_problem, make_user, upload_ok


def test_short_link_passwords_are_refused(client: httpx.Client) -> None:
    owner = make_user(client)
    image_id = upload_ok(client, owner, processed=False, visibility="private")["imageId"]
    r = client.post("/v1/albums", headers=owner.headers, json={"title": "trip"})
    assert r.status_code == 201, r.text
    album_id = r.json()["albumId"]
    for url in (f"/v1/images/{image_id}/links", f"/v1/albums/{album_id}/links"):
        r = client.post(url, headers=owner.headers, json={"password": "1234567"})
        body = assert_problem(r, 422, "weak_password")
        assert "at least 8 characters" in body["detail"]
        r = client.post(url, headers=owner.headers, json={"password": "12345678"})
        assert r.status_code == 201, r.text
        assert r.json()["hasPassword"] is True
    r = client.get(f"/v1/images/{image_id}/links", headers=owner.headers)
    assert len(r.json()["links"]) == 1  # the refused one was not written
