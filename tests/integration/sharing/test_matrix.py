"""The access matrix: visibility x actor x action, every cell asserted, on both backends.

Expectations are written out here from the documented rules (docs/API.md,
"Access control"), not computed by the policy under test. A cell is the
exact status code; for listings, whether the image appears. Every allowed
read through credentials (or of a shared or private image) must also be
uncacheable by shared caches.

For ``private`` the world is built as for ``shared`` (granting makes a
private image shared) and both images are then set back to ``private``:
every grant stays in place, dormant, and must reach nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import anyio
import httpx
import pytest
from sqlalchemy import update

from imghost.accounts import services as accounts
from imghost.context import AppContext
from imghost.settings import Settings
from imghost.sharing import services as sharing
from imghost.sharing.models import ImageCollaborator, ShareLink
from imghost.signing import SigningKeys, sign_url
from tests.conftest import LiveServer
from tests.factories import UserHandle, make_user, upload, upload_ok, wait_processed

NEW_KEY = "new:" + "n" * 32
OLD_KEY = "old:" + "o" * 32
GONE_KEY = "gone:" + "g" * 32

READS = {
    "metadata": ("/images/{id}/metadata", 1),
    "derivative": ("/images/{id}/thumb.jpg", 1),
    "transform": ("/images/{id}/t/w_32,h_24.webp", 1),
    "original": ("/images/{id}", 2),
}
ACTIONS = (*READS, "listing", "patch", "delete", "share")
OWNERS = {"owner", "admin", "org_owner", "org_admin", "uploader"}
# Personal image P (owner) or org image O (uploaded by `uploader` into an org album).
ORG_ACTORS = {"org_owner", "org_admin", "org_member", "org_viewer", "uploader"}


@dataclass
class Actor:
    name: str
    user: UserHandle | None = None
    share: str | None = None  # ?share= token
    signed: dict[str, dict[str, str]] = field(default_factory=dict)  # action -> query

    @property
    def headers(self) -> dict[str, str]:
        return self.user.headers if self.user else {}

    def read_params(self, action: str) -> dict[str, str]:
        if self.signed:
            return self.signed[action]
        return {"share": self.share} if self.share else {}


def read_level(actor: str, visibility: str) -> int | None:
    """0 none, 1 view, 2 download; None: the credential itself is refused (403)."""
    if actor in {"link_bad_password", "signed_expired", "signed_tampered", "signed_retired"}:
        return None
    if actor in OWNERS or actor in {"signed_valid", "signed_rotated"}:
        return 2
    base = 2 if visibility in ("public", "unlisted") else 0
    if visibility == "private":
        return base  # the owner's alone: every other grant is dormant
    granted = {
        "collab_view": 1,
        "collab_download": 2,
        "collab_edit": 2,
        "org_viewer": 1,
        "org_member": 2,
        "link_view": 1,
        "link_download": 2,
    }
    return max(base, granted.get(actor, 0))


def listed(actor: str, visibility: str) -> bool | None:
    """Whether the image appears in its owner's listing; None: the request is refused."""
    if actor == "link_bad_password":
        return None
    if actor in {"owner", "admin", "uploader"}:
        return True
    if visibility == "private":
        return actor in {"org_owner", "org_admin"}  # they manage the org's images
    if actor in {"collab_view", "collab_download", "collab_edit"} | ORG_ACTORS:
        return visibility != "unlisted"
    return visibility == "public"  # anonymous, other users, link and URL bearers


# Shares by e-mail: a pending (unclaimed) one grants nothing, so its invitee is
# any other user; once claimed it is a collaborator grant like one made by id.
# A grant with an expiry counts until then; one that expired a second ago is
# no grant at all.
ALIASES = {
    "invited_pending": "other",
    "invited_claimed": "collab_view",
    "collab_expiring": "collab_download",
    "collab_expired": "other",
}


def expected(actor: str, visibility: str, action: str) -> int | bool | None:
    actor = ALIASES.get(actor, actor)
    if action in READS:
        held = read_level(actor, visibility)
        return 403 if held is None or held < READS[action][1] else 200
    if action == "listing":
        return listed(actor, visibility)
    signed_in = actor in OWNERS | ORG_ACTORS | {
        "other",
        "collab_view",
        "collab_download",
        "collab_edit",
    }
    if not signed_in:
        return 401
    if actor in OWNERS:
        return 200
    if action == "patch" and actor == "collab_edit" and visibility != "private":
        return 200
    return 403


async def _expire_grant(session: Any, image_id: str, user_id: str) -> None:
    ended = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    await session.execute(
        update(ImageCollaborator)
        .where(ImageCollaborator.image_id == image_id, ImageCollaborator.user_id == user_id)
        .values(expires_at=ended)
    )


class World:
    """Users, an org, the two images and every credential, on one live server."""

    def __init__(self, live: LiveServer, client: httpx.Client, visibility: str) -> None:
        self.live, self.client, self.visibility = live, client, visibility
        c = client
        names = [
            "owner",
            "admin",
            "other",
            "collab_view",
            "collab_download",
            "collab_edit",
            "org_owner",
            "org_admin",
            "org_member",
            "org_viewer",
            "uploader",
            "invited_pending",
            "invited_claimed",
            "collab_expiring",
            "collab_expired",
        ]
        self.users = {n: make_user(c) for n in names}
        self.db(accounts.set_admin, self.users["admin"].user_id, True)
        u = self.users
        # personal image P with collaborators
        self.personal = self.upload(u["owner"])
        # by user id (PUT), by username and by user id (the design's POST `sharedWith`)
        r = c.put(
            f"/v1/images/{self.personal}/collaborators/{u['collab_view'].user_id}",
            headers=u["owner"].headers,
            json={"permission": "view"},
        )
        assert r.status_code == 200, r.text
        for name, shared_with in (
            ("download", u["collab_download"].username),
            ("edit", u["collab_edit"].user_id),
        ):
            r = c.post(
                f"/v1/images/{self.personal}/collaborators",
                headers=u["owner"].headers,
                json={"sharedWith": shared_with, "permission": name},
            )
            assert r.status_code == 200, r.text
        # by e-mail: pending for one, claimed (as verification does) by the other
        for name in ("invited_pending", "invited_claimed"):
            r = c.post(
                f"/v1/images/{self.personal}/collaborators",
                headers=u["owner"].headers,
                json={"sharedWith": u[name].email, "permission": "view"},
            )
            assert r.status_code == 202, r.text
        claimed = u["invited_claimed"]
        assert self.db(sharing.claim_pending_shares, claimed.user_id, claimed.email) == 1
        # grants with an end: one a day away, one that ended a second ago
        soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        for name in ("collab_expiring", "collab_expired"):
            r = c.post(
                f"/v1/images/{self.personal}/collaborators",
                headers=u["owner"].headers,
                json={
                    "sharedWith": u[name].user_id,
                    "permission": "download",
                    "expiresAt": soon.isoformat(),
                },
            )
            assert r.status_code == 200 and r.json()["expiresAt"], r.text
        self.db(_expire_grant, self.personal, u["collab_expired"].user_id)
        # org with every role, an org album the uploader may upload to, image O
        r = c.post("/v1/orgs", headers=u["org_owner"].headers, json={"name": "Team"})
        assert r.status_code == 201, r.text
        self.org = r.json()["orgId"]
        for name, role in (
            ("org_admin", "admin"),
            ("org_member", "member"),
            ("org_viewer", "viewer"),
            ("uploader", "member"),
        ):
            r = c.post(
                f"/v1/orgs/{self.org}/invitations",
                headers=u["org_owner"].headers,
                json={"userId": u[name].user_id, "role": role},
            )
            assert r.status_code == 201, r.text
            accepted = c.post(
                f"/v1/invitations/{r.json()['invitationId']}/accept", headers=u[name].headers
            )
            assert accepted.status_code == 200, accepted.text
        r = c.post(
            "/v1/albums",
            headers=u["org_owner"].headers,
            json={"title": "Team album", "orgId": self.org, "visibility": "private"},
        )
        assert r.status_code == 201, r.text
        self.album = r.json()["albumId"]
        r = c.put(
            f"/v1/albums/{self.album}/collaborators/{u['uploader'].user_id}",
            headers=u["org_owner"].headers,
            json={"permission": "upload"},
        )
        assert r.status_code == 200, r.text
        self.org_image = self.upload(u["uploader"], albumId=self.album)
        self.actors = self.make_actors()
        if visibility == "private":
            # Every grant above made the personal image shared; back to the owner alone.
            for image_id, owner in ((self.personal, "owner"), (self.org_image, "uploader")):
                r = c.patch(
                    f"/v1/images/{image_id}",
                    headers=u[owner].headers,
                    json={"visibility": "private"},
                )
                assert r.status_code == 200, r.text
                assert r.json()["visibility"] == "private"

    def db(self, fn: Callable[..., Any], *args: Any) -> Any:
        async def run() -> Any:
            ctx = AppContext.build(self.live.settings)
            try:
                async with ctx.sessions() as session:
                    result = await fn(session, *args)
                    await session.commit()
                    return result
            finally:
                await ctx.close()

        return anyio.run(run)

    def upload(self, user: UserHandle, **fields: str) -> str:
        r = upload(self.client, user, None, visibility=self.visibility, **fields)
        assert r.status_code == 201, r.text
        image_id: str = r.json()["imageId"]
        assert wait_processed(self.client, user, image_id)["status"] == "ready"
        return image_id

    def open_link(self, permissions: list[str], password: str | None = None) -> tuple[str, str]:
        body: dict[str, Any] = {"permissions": permissions}
        if password:
            body["password"] = password
        owner = self.users["owner"]
        r = self.client.post(f"/v1/images/{self.personal}/links", headers=owner.headers, json=body)
        assert r.status_code == 201, r.text
        link_id: str = r.json()["linkId"]
        opened = self.client.post(f"/v1/links/{link_id}/open", json={"password": password})
        assert opened.status_code == 200, opened.text
        return link_id, opened.json()["token"]

    def signed(self, how: str) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        now = int(dt.datetime.now(dt.UTC).timestamp())
        for action, (template, need) in READS.items():
            path = template.format(id=self.personal)
            perms = ["download"] if need == 2 else ["view"]
            if how in ("valid", "tampered"):
                variant = {
                    "metadata": "metadata",
                    "derivative": "thumb.jpg",
                    "transform": "t/w_32,h_24.webp",
                    "original": "original",
                }[action]
                r = self.client.post(
                    f"/v1/images/{self.personal}/share",
                    headers=self.users["owner"].headers,
                    json={"expiresIn": 600, "permissions": perms, "variant": variant},
                )
                assert r.status_code == 200, r.text
                query = dict(parse_qsl(urlsplit(r.json()["shareUrl"]).query))
                assert urlsplit(r.json()["shareUrl"]).path == path
                if how == "tampered":
                    query["perm"] = "download,view" if query["perm"] == "view" else "view"
            else:
                key = {"expired": NEW_KEY, "rotated": OLD_KEY, "retired": GONE_KEY}[how]
                exp = now - 5 if how == "expired" else now + 600
                query = sign_url(SigningKeys.parse(key, "unused"), path, exp, perms)
            out[action] = query
        return out

    def make_actors(self) -> dict[str, Actor]:
        actors = {name: Actor(name, user) for name, user in self.users.items()}
        actors["anonymous"] = Actor("anonymous")
        _, view_token = self.open_link(["view"])
        actors["link_view"] = Actor("link_view", share=view_token)
        _, download_token = self.open_link(["view", "download"])
        actors["link_download"] = Actor("link_download", share=download_token)
        expired_id, expired_token = self.open_link(["view", "download"])
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)

        async def expire(session: Any, link_id: str) -> None:
            await session.execute(
                update(ShareLink).where(ShareLink.id == link_id).values(expires_at=past)
            )

        self.db(expire, expired_id)
        actors["link_expired"] = Actor("link_expired", share=expired_token)
        revoked_id, revoked_token = self.open_link(["view", "download"])
        r = self.client.delete(f"/v1/links/{revoked_id}", headers=self.users["owner"].headers)
        assert r.status_code == 204, r.text
        actors["link_revoked"] = Actor("link_revoked", share=revoked_token)
        # Holding a password link's id without its password: no token to show.
        protected, _ = self.open_link(["view", "download"], password="open sesame")
        wrong = self.client.post(f"/v1/links/{protected}/open", json={"password": "guess"})
        assert wrong.status_code == 403, wrong.text
        actors["link_bad_password"] = Actor("link_bad_password", share=protected)
        for how in ("valid", "expired", "tampered", "rotated", "retired"):
            actors[f"signed_{how}"] = Actor(f"signed_{how}", signed=self.signed(how))
        return actors

    def image_for(self, actor: str) -> str:
        return self.org_image if actor in ORG_ACTORS else self.personal

    def owner_of(self, actor: str) -> UserHandle:
        return self.users["uploader" if actor in ORG_ACTORS else "owner"]


def observe(world: World, actor: Actor, action: str, image_id: str) -> int | bool:
    c = world.client
    if action in READS:
        path = READS[action][0].format(id=image_id)
        r = c.get(path, headers=actor.headers, params=actor.read_params(action))
        if r.status_code == 200:
            credentialed = actor.name != "anonymous" or world.visibility in ("shared", "private")
            cache = r.headers.get("cache-control", "")
            if credentialed:
                assert "public" not in cache, (actor.name, action, cache)
            elif action != "metadata":
                assert cache.startswith("public"), (actor.name, action, cache)
        return r.status_code
    if action == "listing":
        owner = world.owner_of(actor.name)
        params = {"limit": "100", **({"share": actor.share} if actor.share else {})}
        r = c.get(f"/v1/users/{owner.user_id}/images", headers=actor.headers, params=params)
        if r.status_code != 200:
            return r.status_code
        found = image_id in {i["imageId"] for i in r.json()["images"]}
        # Search builds the same rule from its own parts (what anyone sees,
        # own hidden images, grants), on each path a listing can walk: the
        # images table, and the text index's rows ("photo" is in the file name).
        for extra in ({}, {"q": "photo"}, {"q": "photo", "sort": "relevance"}):
            query = {**params, "user": owner.user_id, **extra}
            r = c.get("/v1/images", headers=actor.headers, params=query)
            assert r.status_code == 200, (actor.name, extra, r.text)
            searched = image_id in {i["imageId"] for i in r.json()["images"]}
            assert searched == found, (actor.name, world.visibility, extra, searched)
        return found
    if action == "patch":
        r = c.patch(f"/v1/images/{image_id}", headers=actor.headers, json={"title": actor.name})
        return r.status_code
    if action == "share":
        r = c.post(f"/v1/images/{image_id}/share", headers=actor.headers, json={"expiresIn": 60})
        return r.status_code
    raise AssertionError(action)


@pytest.fixture
def keyed_server(settings_factory: Callable[..., Settings]) -> Iterator[LiveServer]:
    with LiveServer(settings_factory(signing_keys=f"{NEW_KEY},{OLD_KEY}")) as live:
        yield live


@pytest.mark.slow
@pytest.mark.parametrize("visibility", ["public", "unlisted", "shared", "private"])
def test_access_matrix(keyed_server: LiveServer, visibility: str) -> None:
    with httpx.Client(base_url=keyed_server.url, timeout=60) as client:
        world = World(keyed_server, client, visibility)
        mismatches = []
        cells = 0
        for name, actor in world.actors.items():
            image_id = world.image_for(name)
            for action in ACTIONS:
                if action == "delete":
                    continue
                want = expected(name, visibility, action)
                got = observe(world, actor, action, image_id)
                cells += 1
                ok = got == 403 if want is None else got == want
                if not ok:
                    mismatches.append(f"{name} {action}: expected {want}, got {got}")
        # delete last: refused cells on the shared images, allowed ones on fresh copies
        for name, actor in world.actors.items():
            want = expected(name, visibility, "delete")
            if want == 200:
                owner = world.owner_of(name)
                extra = {"albumId": world.album} if name in ORG_ACTORS else {}
                image_id = world.upload(owner, **extra)
            else:
                image_id = world.image_for(name)
            got = client.delete(f"/v1/images/{image_id}", headers=actor.headers).status_code
            cells += 1
            if got != want:
                mismatches.append(f"{name} delete: expected {want}, got {got}")
        assert not mismatches, "\n".join(mismatches)
        assert cells == len(world.actors) * len(ACTIONS)
        # the shared images survived every refused delete
        for image_id, owner_name in ((world.personal, "owner"), (world.org_image, "uploader")):
            r = client.get(f"/v1/images/{image_id}", headers=world.users[owner_name].headers)
            assert r.status_code == 200


ADD_RULES = {
    # who: (by user id, by username, by e-mail) when adding a collaborator
    "owner": (200, 200, 202),
    "collab_edit": (403, 403, 403),
    "other": (403, 403, 403),
    "anonymous": (401, 401, 401),
}


def test_share_and_lookup_rules(client: httpx.Client) -> None:
    """Who may add collaborators by id, username or e-mail, and who may look users up.

    An e-mail share answers 202 `invited` alike for an address with or without an
    account, and a pending share grants nothing (the matrix above: `invited_pending`).
    """
    owner, editor, other, target = (make_user(client) for _ in range(4))
    # processed first: others are answered 404 while an image is not ready
    iid = upload_ok(client, owner, visibility="shared")["imageId"]
    r = client.put(
        f"/v1/images/{iid}/collaborators/{editor.user_id}",
        headers=owner.headers,
        json={"permission": "edit"},
    )
    assert r.status_code == 200, r.text
    callers = {"owner": owner.headers, "collab_edit": editor.headers, "other": other.headers}
    got = {}
    for who in ADD_RULES:
        headers = callers.get(who, {})
        got[who] = tuple(
            client.post(
                f"/v1/images/{iid}/collaborators",
                headers=headers,
                json={"sharedWith": value, "permission": "view"},
            ).status_code
            for value in (target.user_id, target.username, f"new-{target.email}")
        )
    assert got == ADD_RULES
    answers = [
        client.post(
            f"/v1/images/{iid}/collaborators",
            headers=owner.headers,
            json={"sharedWith": address, "permission": "view"},
        ).json()
        for address in (target.email, f"none-{target.email}")
    ]
    assert [set(a) for a in answers] == [set(answers[1])] * 2
    assert all(a["status"] == "invited" for a in answers)
    # lookup: signed in only, exact only, never an address
    lookup = {"q": target.username}
    assert client.get("/v1/users/lookup", params=lookup).status_code == 401
    r = client.get("/v1/users/lookup", params=lookup, headers=other.headers)
    assert r.json() == {"userId": target.user_id, "username": target.username}
    prefix = {"q": target.username[:-1]}
    assert client.get("/v1/users/lookup", params=prefix, headers=other.headers).status_code == 404
