"""Content-Disposition names the file by its real (sniffed) format, never the uploader's."""

from __future__ import annotations

import httpx

from tests.factories import image_bytes, make_user, upload_ok


def test_an_html_name_is_served_with_the_image_extension(client: httpx.Client) -> None:
    owner = make_user(client)
    image = upload_ok(client, owner, data=image_bytes("PNG"), filename="evil.html")
    for headers in ({}, owner.headers):  # a visitor (public) and the owner
        r = client.get(f"/images/{image['imageId']}", headers=headers)
        assert r.status_code == 200, r.text
        disposition = r.headers["content-disposition"]
        assert disposition == "inline; filename=\"evil.png\"; filename*=UTF-8''evil.png"
        assert r.headers["content-type"] == "image/png"
    kept = upload_ok(client, owner, data=image_bytes("JPEG"), filename="Ferien.JPEG")
    r = client.head(f"/images/{kept['imageId']}")
    assert 'filename="Ferien.JPEG"' in r.headers["content-disposition"]
