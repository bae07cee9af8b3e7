"""One live server with every actor of the moderation matrices, built once per
module and backend: an owner's public image and an org image, a collaborator,
a share link, signed URLs, an org member, an admin, an album with a cover."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import anyio
import httpx
import pytest

from imghost.accounts import services as accounts
from imghost.context import AppContext
from imghost.settings import Settings
from imghost.testing.databases import DatabasePool
from imghost.testing.servers import S3Server
from tests.conftest import TEST_RATE_LIMITS, TEST_SECRET, LiveServer
from tests.factories import UserHandle, make_user, upload, wait_processed

TAG = "moderated"
# The read paths a signed URL can be minted for, by the variant that signs them.
SIGNED_VARIANTS = {
    "original": "original",
    "original_head": "original",
    "preset": "thumb.jpg",
    "transform": "t/w_32,h_24.webp",
    "metadata": "metadata",
}


@dataclass
class Actor:
    name: str
    user: UserHandle | None = None
    share: str | None = None  # a link holder's ?share= grant
    signed: dict[str, dict[str, str]] = field(default_factory=dict)  # path -> query

    @property
    def headers(self) -> dict[str, str]:
        return self.user.headers if self.user else {}

    def params(self, path: str) -> dict[str, str]:
        if self.signed:
            return self.signed.get(path, {})
        return {"share": self.share} if self.share else {}


@dataclass
class World:
    live: LiveServer
    client: httpx.Client
    users: dict[str, UserHandle]
    personal: str = ""
    org_image: str = ""
    links: dict[str, str] = field(default_factory=dict)  # image id -> link id
    album: str = ""
    actors: dict[str, Actor] = field(default_factory=dict)
    api_key: str = ""

    def db(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        async def run() -> Any:
            ctx = AppContext.build(self.live.settings)
            try:
                async with ctx.sessions() as session:
                    result = await fn(session, *args, **kwargs)
                    await session.commit()
                    return result
            finally:
                await ctx.close()

        return anyio.run(run)

    def image_for(self, actor: str) -> str:
        return self.org_image if actor == "org_member" else self.personal

    @property
    def admin(self) -> UserHandle:
        return self.users["admin"]


def module_settings(request: pytest.FixtureRequest, backend: str, tmp: Path) -> Iterator[Settings]:
    """What ``settings_factory`` builds, for a module-scoped server."""
    pool: DatabasePool | None = None
    if backend == "sqlite-local":
        db = tmp / "imghost.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), db)
        database_url, storage_url = f"sqlite+aiosqlite:///{db}", f"file://{tmp / 'b'}"
    else:
        pool = request.getfixturevalue("pg_databases")
        s3: S3Server = request.getfixturevalue("s3_server")
        name = pool.take()
        database_url = pool.server.url(name)
        storage_url = s3.storage_url("imghost-test", name)
    yield Settings(
        database_url=database_url,
        storage_url=storage_url,
        secret_key=TEST_SECRET,
        run_worker=True,
        gc_interval=3600,
        auto_migrate=False,
        tmp_dir=str(tmp / "spool"),
        rate_limits_free=TEST_RATE_LIMITS,
        rate_limits_premium=TEST_RATE_LIMITS,
        rate_limits_anonymous=TEST_RATE_LIMITS,
        signup_rate_limit="100000/hour",
        freeze_heap=False,
        password_hash_cost="minimal",
    )
    if pool is not None:
        pool.give_back(name)


def _upload(c: httpx.Client, user: UserHandle, album: str | None = None) -> str:
    fields = {"albumId": album} if album else {}
    r = upload(c, user, None, "photo.jpg", visibility="public", tags=TAG, **fields)
    assert r.status_code == 201, r.text
    image_id: str = r.json()["imageId"]
    assert wait_processed(c, user, image_id)["status"] == "ready"
    return image_id


def _signed(c: httpx.Client, owner: UserHandle, image_id: str) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for path, variant in SIGNED_VARIANTS.items():
        perms = ["download"] if variant == "original" else ["view"]
        r = c.post(
            f"/v1/images/{image_id}/share",
            headers=owner.headers,
            json={"expiresIn": 3600, "permissions": perms, "variant": variant},
        )
        assert r.status_code == 200, r.text
        out[path] = dict(parse_qsl(urlsplit(r.json()["shareUrl"]).query))
    return out


def build(live: LiveServer, c: httpx.Client) -> World:
    names = ("owner", "admin", "collaborator", "org_member", "other")
    world = World(live, c, {n: make_user(c) for n in names})
    u = world.users
    world.db(accounts.set_admin, u["admin"].user_id, True)
    world.personal = _upload(c, u["owner"])
    r = c.put(
        f"/v1/images/{world.personal}/collaborators/{u['collaborator'].user_id}",
        headers=u["owner"].headers,
        json={"permission": "download"},
    )
    assert r.status_code == 200, r.text
    r = c.post("/v1/orgs", headers=u["owner"].headers, json={"name": "Moderated"})
    assert r.status_code == 201, r.text
    org = r.json()["orgId"]
    r = c.post(
        f"/v1/orgs/{org}/invitations",
        headers=u["owner"].headers,
        json={"userId": u["org_member"].user_id, "role": "member"},
    )
    assert r.status_code == 201, r.text
    r = c.post(
        f"/v1/invitations/{r.json()['invitationId']}/accept", headers=u["org_member"].headers
    )
    assert r.status_code == 200, r.text
    r = c.post(
        "/v1/albums",
        headers=u["owner"].headers,
        json={"title": "Team", "orgId": org, "visibility": "shared"},
    )
    assert r.status_code == 201, r.text
    world.org_image = _upload(c, u["owner"], r.json()["albumId"])
    for image_id in (world.personal, world.org_image):
        r = c.post(
            f"/v1/images/{image_id}/links",
            headers=u["owner"].headers,
            json={"permissions": ["view", "download"]},
        )
        assert r.status_code == 201, r.text
        world.links[image_id] = r.json()["linkId"]
    opened = c.post(f"/v1/links/{world.links[world.personal]}/open")
    assert opened.status_code == 200, opened.text
    r = c.post(
        "/v1/albums", headers=u["owner"].headers, json={"title": "Cover", "visibility": "public"}
    )
    assert r.status_code == 201, r.text
    world.album = r.json()["albumId"]
    r = c.post(
        f"/v1/albums/{world.album}/images",
        headers=u["owner"].headers,
        json={"imageIds": [world.personal]},
    )
    assert r.status_code in (200, 201), r.text
    r = c.patch(
        f"/v1/albums/{world.album}",
        headers=u["owner"].headers,
        json={"coverImageId": world.personal},
    )
    assert r.status_code == 200, r.text
    r = c.post("/v1/users/me/api-keys", headers=u["owner"].headers, json={"name": "ci"})
    assert r.status_code == 201, r.text
    world.api_key = r.json()["key"]
    world.actors = {
        "anonymous": Actor("anonymous"),
        "owner": Actor("owner", u["owner"]),
        "collaborator": Actor("collaborator", u["collaborator"]),
        "link_holder": Actor("link_holder", share=opened.json()["token"]),
        "signed_holder": Actor("signed_holder", signed=_signed(c, u["owner"], world.personal)),
        "org_member": Actor("org_member", u["org_member"]),
        "admin": Actor("admin", u["admin"]),
        "other": Actor("other", u["other"]),
    }
    return world
