"""Every real-world file in ../shared/corpus gets its documented outcome.

Accepted files become `ready` with all presets, upright; hostile files end in
a clean 4xx at upload or a clean `failed`/`quarantined`, never a 5xx, and the
server and its worker survive all of it.
"""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image

from tests.corpus import (
    ACCEPT_FOLDERS,
    HOSTILE_ACCEPT,
    HOSTILE_EITHER,
    HOSTILE_REJECT,
    require_corpus,
)
from tests.factories import assert_problem, make_user, upload, wait_processed

PRESET_BOUNDS = {"thumb": 256, "small": 320, "medium": 1024, "large": 2048}


def _size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as img:
        return img.size


# On the embedded default only: the outcomes are the decoder's and the
# pipeline's, the same on every backend, and the database and storage paths
# they take are those of every upload test, which run on both.
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)
def test_corpus_outcomes(client: httpx.Client) -> None:
    root = require_corpus()
    user = make_user(client)
    accepted: list[tuple[str, str, str]] = []
    seen_hostile = set()
    for folder in (*ACCEPT_FOLDERS, "hostile"):
        for path in sorted((root / folder).iterdir()):
            data = path.read_bytes()
            r = upload(client, user, data=data, filename=path.name)
            name = path.name
            if folder != "hostile" or name in HOSTILE_ACCEPT:
                assert r.status_code == 201, (folder, name, r.text)
                accepted.append((folder, name, r.json()["imageId"]))
                continue
            seen_hostile.add(name)
            if name in HOSTILE_REJECT:
                status, code = HOSTILE_REJECT[name]
                assert_problem(r, status, code)
            else:
                assert name in HOSTILE_EITHER, f"unexpected corpus file {name}"
                assert r.status_code == 201 or 400 <= r.status_code < 500, (name, r.text)
                if r.status_code == 201:
                    body = wait_processed(client, user, r.json()["imageId"], timeout=120)
                    assert body["status"] in ("ready", "failed", "quarantined"), body
                else:
                    assert r.headers["content-type"].startswith("application/problem+json")
    assert seen_hostile >= set(HOSTILE_REJECT) | HOSTILE_EITHER

    for folder, name, image_id in accepted:
        body = wait_processed(client, user, image_id, timeout=120)
        assert body["status"] == "ready", (name, body)
        original = client.get(f"/images/{image_id}")
        assert original.status_code == 200, name
        width, height = body["width"], body["height"]
        for preset, bound in PRESET_BOUNDS.items():
            r = client.get(f"/images/{image_id}/{preset}.jpg")
            assert r.status_code == 200, (name, preset, r.text)
            w, h = _size(r.content)
            assert w <= bound and h <= bound and w <= width and h <= height, (name, preset)
            if preset != "thumb" and abs(width - height) > 2:
                # Upright: derivatives keep the upright orientation of the image.
                assert (w > h) == (width > height), (name, preset, (w, h), (width, height))
        if folder == "orientation":
            assert (width > height) == name.startswith("Landscape"), (name, body)
        meta = client.get(f"/v1/images/{image_id}/metadata").json()
        assert meta["metadata"] is not None and meta["gps"] is None, name
    assert client.get("/healthz").status_code == 200  # the server survived all of it
