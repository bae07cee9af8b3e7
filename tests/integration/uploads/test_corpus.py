"""Every real-world file in ../shared/corpus gets its documented outcome at upload."""

from __future__ import annotations

import httpx

from tests.corpus import (
    ACCEPT_FOLDERS,
    HOSTILE_ACCEPT,
    HOSTILE_EITHER,
    HOSTILE_REJECT,
    require_corpus,
)
from tests.factories import assert_problem, make_user, upload


def test_corpus_outcomes(client: httpx.Client) -> None:
    root = require_corpus()
    user = make_user(client)
    seen_hostile = set()
    for folder in (*ACCEPT_FOLDERS, "hostile"):
        for path in sorted((root / folder).iterdir()):
            data = path.read_bytes()
            r = upload(client, user, data=data, filename=path.name)
            name = path.name
            if folder != "hostile" or name in HOSTILE_ACCEPT:
                assert r.status_code == 201, (folder, name, r.text)
                body = r.json()
                got = client.get(f"/images/{body['imageId']}")
                assert got.status_code == 200 and got.content == data, name
                if folder == "orientation":
                    # Reported dimensions are the upright ones.
                    landscape = name.startswith("Landscape")
                    assert (body["width"] > body["height"]) == landscape, (name, body)
                continue
            seen_hostile.add(name)
            if name in HOSTILE_REJECT:
                status, code = HOSTILE_REJECT[name]
                assert_problem(r, status, code)
            else:
                assert name in HOSTILE_EITHER, f"unexpected corpus file {name}"
                assert r.status_code == 201 or 400 <= r.status_code < 500, (name, r.text)
                if r.status_code >= 400:
                    assert r.headers["content-type"].startswith("application/problem+json")
    assert seen_hostile >= set(HOSTILE_REJECT) | HOSTILE_EITHER
    assert client.get("/healthz").status_code == 200  # the server survived all of it
