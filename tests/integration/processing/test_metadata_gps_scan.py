"""Metadata, GPS privacy and the scan step, through the real service."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
from PIL import Image

from tests.corpus import require_corpus
from tests.factories import assert_problem, image_bytes, make_user, upload_ok

GPS_IFD = 0x8825


def has_gps(data: bytes) -> bool:
    with Image.open(io.BytesIO(data)) as img:
        return bool(img.getexif().get_ifd(GPS_IFD))


def test_gps_is_private_unless_opted_in(client: httpx.Client) -> None:
    root = require_corpus()
    data = (root / "exif" / "gps_DSCN0010.jpg").read_bytes()
    assert has_gps(data)
    user = make_user(client)
    img = upload_ok(client, user, data=data, filename="gps.jpg")
    image_id = img["imageId"]
    meta = client.get(f"/v1/images/{image_id}/metadata").json()
    assert meta["gps"] is None and "gps" not in (meta["metadata"] or {})
    assert "GPS" not in str(meta)
    assert meta["metadata"]["exif"]["Make"] == "NIKON"
    assert meta["metadata"]["exif"]["Model"] == "COOLPIX P6000"
    public = client.get(f"/images/{image_id}")
    assert public.status_code == 200 and not has_gps(public.content)
    assert len(public.content) == len(data)  # scrubbed in place, losslessly
    with Image.open(io.BytesIO(public.content)) as a, Image.open(io.BytesIO(data)) as b:
        assert a.tobytes() == b.tobytes()
    ranged = client.get(f"/images/{image_id}", headers={"Range": "bytes=0-65535"})
    assert ranged.content == public.content[:65536]
    owner = client.get(f"/images/{image_id}", headers=user.headers)
    assert owner.content == data  # the owner gets their file back as uploaded
    # ... and no shared cache may keep that copy for others.
    assert owner.headers["cache-control"] == "private, no-store"
    assert public.headers["cache-control"].startswith("public")
    for preset in ("thumb", "large"):
        assert not has_gps(client.get(f"/images/{image_id}/{preset}.jpg").content)
    # Opted in for this upload: GPS is kept, returned and served.
    kept = upload_ok(client, user, data=data, filename="gps.jpg", keepGps="true")
    meta = client.get(f"/v1/images/{kept['imageId']}/metadata").json()
    assert abs(meta["gps"]["latitude"] - 43.467) < 0.01
    assert abs(meta["gps"]["longitude"] - 11.885) < 0.01
    assert client.get(f"/images/{kept['imageId']}").content == data


def test_camera_metadata(client: httpx.Client) -> None:
    root = require_corpus()
    user = make_user(client)
    img = upload_ok(client, user, data=(root / "exif" / "Canon_40D.jpg").read_bytes())
    meta = client.get(f"/images/{img['imageId']}/metadata").json()["metadata"]
    assert meta["exif"]["Make"] == "Canon" and meta["exif"]["Model"] == "Canon EOS 40D"
    assert meta["iccDescription"]
    assert meta["placeholder"] and meta["dominantColor"].startswith("#")


def test_quarantine(client: httpx.Client, tmp_path: Path) -> None:
    user = make_user(client)
    data = image_bytes("JPEG", size=(64, 64)) + b"<?php system($_GET['c']); ?>" + b" " * 2048
    img = upload_ok(client, user, data=data)
    assert img["status"] == "quarantined" and img["statusReason"]
    assert img["thumbnailUrl"] is None
    assert_problem(
        client.get(f"/images/{img['imageId']}", headers=user.headers), 403, "quarantined"
    )
    assert_problem(client.get(f"/images/{img['imageId']}"), 404, "not_found")
    listing = client.get(f"/v1/users/{user.user_id}/images").json()
    assert listing["total"] == 0
