"""The takedown and suspension matrices: every read path x every actor, on both backends.

Expectations are written out from docs/API.md ("Takedowns and suspensions"),
not computed by the policy under test. Each matrix is observed three times
on one world: before (everything open: the images are public), while the
image is withheld, and after it is lifted (everything open again).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx
import pytest

from tests.factories import PASSWORD, assert_problem
from tests.integration.moderation.world import TAG, World

# path name -> (method, template, the answer when nothing is withheld)
READS: dict[str, tuple[str, str, int]] = {
    "original": ("GET", "/images/{id}", 200),
    "original_head": ("HEAD", "/images/{id}", 200),
    "preset": ("GET", "/images/{id}/thumb.jpg", 200),
    "transform": ("GET", "/images/{id}/t/w_32,h_24.webp", 200),
    "metadata": ("GET", "/images/{id}/metadata", 200),
    "api_metadata": ("GET", "/v1/images/{id}", 200),
    "file": ("GET", "/v1/images/{id}/file", 302),
}
LINKS: dict[str, tuple[str, str, int]] = {
    "link_open": ("POST", "/v1/links/{link}/open", 200),
    "link_page": ("GET", "/s/{link}", 200),
}
LISTINGS = ("user_listing", "search_text", "search_tag", "search_all", "album_cover")
PATHS = (*READS, *LINKS, *LISTINGS)


def expected(state: str, actor: str, path: str) -> int | bool:
    """``state``: normal | takedown | suspended (the owner is suspended)."""
    if path in READS or path in LINKS:
        normal: int | bool = {**READS, **LINKS}[path][2]
    else:
        normal = True
    if state == "normal":
        return normal
    if path in LINKS:
        return 451  # a link stands for no one: it opens nothing withheld, for anyone
    if actor == "admin":
        return normal
    if state == "suspended" and actor == "owner":
        return 403  # account_suspended: none of the owner's credentials works
    if path in LISTINGS:
        # Listed for its owner alone, marked; never as an album's cover.
        return state == "takedown" and actor == "owner" and path != "album_cover"
    return 451


def _ids(r: httpx.Response) -> list[dict[str, object]]:
    assert r.status_code == 200, r.text
    images: list[dict[str, object]] = r.json()["images"]
    return images


def observe(world: World, name: str, path: str, state: str) -> int | bool:
    c, actor = world.client, world.actors[name]
    image_id = world.image_for(name)
    owner = world.users["owner"].user_id
    if path in READS or path in LINKS:
        method, template, _ = {**READS, **LINKS}[path]
        url = template.format(id=image_id, link=world.links[image_id])
        params = actor.params(path) if path in READS else {}
        r = c.request(method, url, headers=actor.headers, params=params)
        if r.status_code == 451:
            assert r.headers["cache-control"] == "no-store", (name, path)
            if method != "HEAD":
                body = assert_problem(r, 451, "unavailable_for_legal_reasons")
                assert body["reason"] == state, (name, path, body)
        if r.status_code == 403 and method != "HEAD":
            assert_problem(r, 403, "account_suspended")
        return r.status_code
    queries = {
        "user_listing": (f"/v1/users/{owner}/images", {"limit": "100"}),
        "search_text": ("/v1/images", {"user": owner, "q": "photo"}),
        "search_tag": ("/v1/images", {"tag": TAG, "limit": "100"}),
        "search_all": ("/v1/images", {"limit": "100"}),
        "album_cover": (f"/v1/albums/{world.album}", {}),
    }
    url, params = queries[path]
    r = c.get(url, headers=actor.headers, params=params)
    if r.status_code != 200:
        return r.status_code
    if path == "album_cover":
        return bool(r.json()["coverImageId"] == world.personal)
    found = [i for i in _ids(r) if i["imageId"] == image_id]
    if found and state == "takedown" and name == "owner":
        assert found[0]["withheld"] == "takedown"  # marked in the owner's own listing
    return bool(found)


def check_matrix(world: World, state: str) -> None:
    mismatches = [
        f"{name} {path}: expected {want}, got {got}"
        for name in world.actors
        for path in PATHS
        if (got := observe(world, name, path, state)) != (want := expected(state, name, path))
    ]
    assert not mismatches, f"{state}:\n" + "\n".join(mismatches)


def _admin_post(world: World, url: str, body: dict[str, str] | None = None) -> httpx.Response:
    return world.client.post(url, headers=world.admin.headers, json=body)


@contextlib.contextmanager
def taken_down(world: World) -> Iterator[World]:
    for image_id in (world.personal, world.org_image):
        r = _admin_post(
            world,
            f"/v1/admin/images/{image_id}/takedown",
            {"reason": "DMCA notice", "reference": "DMCA-2026-17"},
        )
        assert r.status_code == 201, r.text
    try:
        yield world
    finally:
        for image_id in (world.personal, world.org_image):
            r = _admin_post(world, f"/v1/admin/images/{image_id}/reinstate")
            assert r.status_code == 200, r.text


@contextlib.contextmanager
def suspended(world: World) -> Iterator[World]:
    owner = world.users["owner"]
    r = _admin_post(world, f"/v1/admin/users/{owner.user_id}/suspend", {"reason": "spam"})
    assert r.status_code == 200, r.text
    assert r.json()["imagesChanged"] == 2
    try:
        yield world
    finally:
        r = _admin_post(world, f"/v1/admin/users/{owner.user_id}/unsuspend")
        assert r.status_code == 200, r.text


@pytest.mark.slow
def test_takedown_matrix(world: World) -> None:
    check_matrix(world, "normal")
    with taken_down(world):
        check_matrix(world, "takedown")
    check_matrix(world, "normal")


@pytest.mark.slow
def test_suspension_matrix(world: World) -> None:
    check_matrix(world, "normal")
    with suspended(world):
        check_matrix(world, "suspended")
    check_matrix(world, "normal")


def test_suspended_credentials_stop_and_come_back(world: World) -> None:
    c, owner = world.client, world.users["owner"]
    key = {"Authorization": f"Bearer {world.api_key}"}
    assert c.get("/v1/users/me", headers=key).status_code == 200
    with suspended(world):
        assert_problem(c.get("/v1/users/me", headers=owner.headers), 403, "account_suspended")
        assert_problem(c.get("/v1/users/me", headers=key), 403, "account_suspended")
        login = c.post("/v1/auth/login", json={"email": owner.email, "password": PASSWORD})
        assert_problem(login, 403, "account_suspended")
        # A wrong password learns nothing of the suspension.
        wrong = c.post("/v1/auth/login", json={"email": owner.email, "password": "x" * 12})
        assert_problem(wrong, 401, "invalid_credentials")
        refreshed = c.post("/v1/auth/refresh", json={"refreshToken": owner.refresh_token})
        assert_problem(refreshed, 403, "account_suspended")
    # Everything the suspension stopped works again, the old credentials too.
    assert c.get("/v1/users/me", headers=owner.headers).status_code == 200
    assert c.get("/v1/users/me", headers=key).status_code == 200
    login = c.post("/v1/auth/login", json={"email": owner.email, "password": PASSWORD})
    assert login.status_code == 200, login.text
