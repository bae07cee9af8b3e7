"""Listing and search: filters, full text, sorts, both pagination modes, access."""

from __future__ import annotations

import io
import time
from typing import Any

import httpx
import pytest
from PIL import Image

from imghost.accounts import services as accounts
from imghost.search import text
from tests.conftest import LiveServer
from tests.factories import UserHandle, assert_problem, image_bytes, make_user, upload_ok
from tests.helpers.context import with_ctx
from tests.helpers.orgs import create_org, join


def ids(r: httpx.Response) -> list[str]:
    assert r.status_code == 200, r.text
    return [i["imageId"] for i in r.json()["images"]]


def put(client: httpx.Client, user: UserHandle, **fields: Any) -> str:
    image_id: str = upload_ok(client, user, **fields)["imageId"]
    return image_id


def camera_jpeg(make: str, model: str, taken: str, size: tuple[int, int] = (64, 48)) -> bytes:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = make, model
    exif.get_ifd(0x8769)[0x9003] = taken  # DateTimeOriginal
    buf = io.BytesIO()
    Image.new("RGB", size, (90, 90, 200)).save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def test_seed_acceptance_user_and_tag(client: httpx.Client) -> None:
    ann, bob = make_user(client), make_user(client)
    summer = [put(client, ann, tags="summer,beach") for _ in range(3)]
    put(client, ann, tags="winter")
    put(client, bob, tags="summer")
    r = client.get("/images", params={"user": ann.user_id, "tag": "summer", "limit": 2})
    body = r.json()
    assert body["total"] == 3 and len(body["images"]) == 2
    page2 = client.get(
        "/images", params={"user": ann.user_id, "tag": "summer", "limit": 2, "page": 2}
    )
    assert set(ids(r)) | set(ids(page2)) == set(summer)
    # by username too; every tag must match
    r = client.get(
        "/v1/images", params=[("user", ann.username), ("tag", "summer"), ("tag", "beach")]
    )
    assert set(ids(r)) == set(summer)
    assert ids(client.get("/v1/images", params=[("tag", "summer"), ("tag", "winter")])) == []


def test_metadata_filters(client: httpx.Client) -> None:
    user = make_user(client)
    canon = put(client, user, data=camera_jpeg("Canon", "EOS 40D", "2020:07:01 10:00:00"))
    nikon = put(client, user, data=camera_jpeg("NIKON", "D850", "2023:01:15 08:30:00", (300, 200)))
    png = put(client, user, data=image_bytes("PNG", size=(500, 400)))
    mine = {"user": user.user_id}
    assert ids(client.get("/v1/images", params={**mine, "make": "canon"})) == [canon]
    assert ids(client.get("/v1/images", params={**mine, "model": "d850"})) == [nikon]
    taken = {**mine, "takenFrom": "2022-01-01", "takenTo": "2024-01-01"}
    assert ids(client.get("/v1/images", params=taken)) == [nikon]
    assert ids(client.get("/v1/images", params={**mine, "format": "png"})) == [png]
    wide: dict[str, str | int] = {**mine, "minWidth": 250, "minHeight": 150}
    assert set(ids(client.get("/v1/images", params=wide))) == {nikon, png}
    future = {**mine, "from": "2100-01-01T00:00:00Z"}
    assert ids(client.get("/v1/images", params=future)) == []
    assert len(ids(client.get("/v1/images", params={**mine, "to": "2100-01-01"}))) == 3


@pytest.fixture(params=["matches-first", "walk"])
def text_strategy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways a text query runs: reading the (few) matches first, or walking
    the listing and testing each image (what common words get)."""
    if request.param == "walk":
        monkeypatch.setattr(text, "FEW_MATCHES", 0)
    return str(request.param)


def test_full_text_stems_prefixes_and_ranks(client: httpx.Client, text_strategy: str) -> None:
    user = make_user(client)
    in_title = put(client, user, title="Two cats asleep")
    in_description = put(client, user, description="a cat on the wall", title="Wall")
    put(client, user, title="A dog", description="no felines here")
    by_name = put(client, user, filename="IMG_holiday_2024.jpg")
    mine = {"user": user.user_id}
    found = ids(client.get("/v1/images", params={**mine, "q": "cat", "sort": "relevance"}))
    assert found == [in_title, in_description]  # title above description
    assert set(ids(client.get("/v1/images", params={**mine, "q": "cats"}))) == {
        in_title,
        in_description,
    }
    assert ids(client.get("/v1/images", params={**mine, "q": "asle"})) == [in_title]  # prefix
    assert ids(client.get("/v1/images", params={**mine, "q": "holiday"})) == [by_name]
    assert ids(client.get("/v1/images", params={**mine, "q": "cat wall"})) == [in_description]
    # the index follows edits
    client.patch(f"/v1/images/{in_title}", headers=user.headers, json={"title": "Sleeping"})
    assert ids(client.get("/v1/images", params={**mine, "q": "cats"})) == [in_description]
    client.patch(f"/v1/images/{in_title}", headers=user.headers, json={"tags": ["kitten"]})
    assert ids(client.get("/v1/images", params={**mine, "q": "kitten"})) == [in_title]


def test_cursor_pages_neither_skip_nor_repeat_while_images_arrive(client: httpx.Client) -> None:
    user = make_user(client)
    first = [put(client, user, processed=False) for _ in range(7)]
    seen: list[str] = []
    params: dict[str, Any] = {"user": user.user_id, "limit": 3}
    r = client.get("/v1/images", headers=user.headers, params=params)
    while True:
        body = r.json()
        assert body["total"] is None or "cursor" not in params
        seen += [i["imageId"] for i in body["images"]]
        put(client, user, processed=False)  # a newer image arrives between pages
        if body["next"] is None:
            break
        r = client.get(
            "/v1/images", headers=user.headers, params={**params, "cursor": body["next"]}
        )
    assert seen == list(reversed(first))
    oldest = client.get(
        "/v1/images", headers=user.headers, params={**params, "sort": "oldest"}
    ).json()
    assert [i["imageId"] for i in oldest["images"]] == first[:3]


def test_only_what_the_caller_may_see(client: httpx.Client) -> None:
    owner, friend, stranger = make_user(client), make_user(client), make_user(client)
    public = put(client, owner, tags="x")
    unlisted = put(client, owner, tags="x", visibility="unlisted")
    private = put(client, owner, tags="x", visibility="private")
    shared = put(client, owner, tags="x", visibility="private")
    r = client.put(
        f"/v1/images/{shared}/collaborators/{friend.user_id}",
        headers=owner.headers,
        json={"permission": "view"},
    )
    assert r.status_code == 200
    assert r.json()["visibility"] == "shared"  # sharing made the private image shared
    query = {"user": owner.user_id, "tag": "x"}
    everything = {public, unlisted, private, shared}
    assert set(ids(client.get("/v1/images", headers=owner.headers, params=query))) == everything
    assert set(ids(client.get("/v1/images", headers=friend.headers, params=query))) == {
        public,
        shared,
    }
    assert set(ids(client.get("/v1/images", headers=stranger.headers, params=query))) == {public}
    assert set(ids(client.get("/v1/images", params={**query, "q": "x"}))) == {public}
    own_private = {**query, "visibility": "private"}
    assert set(ids(client.get("/v1/images", headers=owner.headers, params=own_private))) == {
        private
    }
    assert set(ids(client.get("/v1/images", headers=friend.headers, params=own_private))) == set()
    # `shared` filters the caller's own shared images; what others share with them is not theirs.
    own_shared = {**query, "visibility": "shared"}
    assert ids(client.get("/v1/images", headers=owner.headers, params=own_shared)) == [shared]
    assert ids(client.get("/v1/images", headers=friend.headers, params=own_shared)) == []
    # deleted images leave the results at once
    assert client.delete(f"/v1/images/{public}", headers=owner.headers).status_code == 200
    assert ids(client.get("/v1/images", params=query)) == []


def test_bad_parameters(client: httpx.Client) -> None:
    assert_problem(client.get("/v1/images", params={"cursor": "nonsense"}), 400, "invalid_cursor")
    assert_problem(client.get("/v1/images", params={"sort": "relevance"}), 400, "relevance_needs_q")
    assert_problem(client.get("/v1/images", params={"q": "!!!"}), 400, "invalid_query")
    assert_problem(client.get("/v1/images", params={"visibility": "private"}), 401, "unauthorized")
    assert client.get("/v1/images", params={"limit": 101}).status_code == 422
    assert client.get("/v1/images", params={"sort": "random"}).status_code == 422
    assert client.get("/v1/images", params={"from": "yesterday"}).status_code == 422
    assert_problem(client.get("/v1/images", params={"album": "alb_missing"}), 404, "not_found")


def test_org_album_and_admin_callers(client: httpx.Client, live: LiveServer) -> None:
    owner, member, outsider, admin = (make_user(client) for _ in range(4))
    org = create_org(client, owner, "T")["orgId"]
    join(client, owner, org, member, "viewer")
    # Shared: the org's members reach both by role (private ones are the managers' alone).
    album = client.post(
        "/v1/albums",
        headers=owner.headers,
        json={"title": "A", "orgId": org, "visibility": "shared"},
    ).json()["albumId"]
    in_org = put(client, owner, visibility="shared", albumId=album, tags="team")
    personal = put(client, owner, visibility="private", tags="team")
    query = {"tag": "team"}
    assert ids(client.get("/v1/images", headers=member.headers, params=query)) == [in_org]
    assert ids(client.get("/v1/images", headers=outsider.headers, params=query)) == []
    by_album = {"album": album}
    assert ids(client.get("/v1/images", headers=member.headers, params=by_album)) == [in_org]
    assert_problem(
        client.get("/v1/images", headers=outsider.headers, params=by_album), 404, "not_found"
    )
    assert ids(client.get("/v1/images", headers=member.headers, params={"org": org})) == [in_org]

    # a site admin sees everything
    async def grant(ctx: Any) -> None:
        async with ctx.sessions() as session:
            await accounts.set_admin(session, admin.user_id, True)
            await session.commit()

    with_ctx(live.settings, grant)
    assert set(ids(client.get("/v1/images", headers=admin.headers, params=query))) == {
        in_org,
        personal,
    }


def test_most_viewed_uses_the_view_counts(settings_factory: Any) -> None:
    with (
        LiveServer(settings_factory(analytics_flush_interval=0.2)) as live,
        httpx.Client(base_url=live.url, timeout=30) as client,
    ):
        user = make_user(client)
        images = [put(client, user, tags="pop") for _ in range(3)]
        for image_id, views in zip(images, (1, 3, 2), strict=True):
            for _ in range(views):
                assert client.get(f"/images/{image_id}/thumb.jpg").status_code == 200
        expected = [images[1], images[2], images[0]]
        params: dict[str, Any] = {"tag": "pop", "sort": "most_viewed"}

        def flushed() -> bool:
            # Every view counted, not only enough for the order: a flush between
            # the two pages below would move the cursor's place.
            stats = [client.get(f"/v1/images/{i}/stats", headers=user.headers) for i in images]
            views = [r.json()["views"] for r in stats]
            return views == [1, 3, 2] and ids(client.get("/v1/images", params=params)) == expected

        deadline = time.monotonic() + 10
        while not flushed():
            assert time.monotonic() < deadline, "view counts were not flushed"
            time.sleep(0.1)
        # the cursor walks the same order
        first = client.get("/v1/images", params={**params, "limit": 2}).json()
        rest = client.get("/v1/images", params={**params, "limit": 2, "cursor": first["next"]})
        assert [i["imageId"] for i in first["images"]] + ids(rest) == expected


def test_tag_and_text_listings_follow_visibility_changes(
    client: httpx.Client, text_strategy: str
) -> None:
    # Tag and text listings read the copy of the public flag kept on tag rows
    # and text index rows by triggers.
    owner = make_user(client)
    image = put(client, owner, tags="tide")
    assert ids(client.get("/v1/images", params={"tag": "tide"})) == [image]
    for visibility, listed in (("private", []), ("unlisted", []), ("public", [image])):
        r = client.patch(
            f"/v1/images/{image}", headers=owner.headers, json={"visibility": visibility}
        )
        assert r.status_code == 200, r.text
        assert ids(client.get("/v1/images", params={"tag": "tide"})) == listed
        assert ids(client.get("/v1/images", params={"tag": "tide", "q": "tide"})) == listed
        assert ids(client.get("/v1/images", params={"q": "tide"})) == listed
        found = client.get("/v1/images", params={"q": "tide", "user": owner.username}).json()
        assert (ids_of(found), found["total"]) == (listed, len(listed))
        # the owner always finds it
        mine = client.get("/v1/images", headers=owner.headers, params={"q": "tide"}).json()
        assert (ids_of(mine), mine["total"]) == ([image], 1)
    # new tags join the listing with the image's own upload time and flag
    r = client.patch(f"/v1/images/{image}", headers=owner.headers, json={"tags": ["tide", "moon"]})
    assert r.status_code == 200, r.text
    assert ids(client.get("/v1/images", params={"tag": "moon", "user": owner.username})) == [image]


def test_parts_merge_in_order_across_pages(client: httpx.Client, text_strategy: str) -> None:
    """A signed-in caller's listing merges what anyone sees, their own hidden
    images and private images shared with them: one order, no gaps, no repeats."""
    me, other = make_user(client), make_user(client)
    made: list[str] = []
    for n in range(9):
        if n % 3 == 0:
            made.append(put(client, other, tags="mix"))
        elif n % 3 == 1:
            made.append(put(client, me, tags="mix", visibility="private"))
        else:
            shared = put(client, other, tags="mix", visibility="private")
            r = client.put(
                f"/v1/images/{shared}/collaborators/{me.user_id}",
                headers=other.headers,
                json={"permission": "view"},
            )
            assert r.status_code == 200, r.text
            made.append(shared)
    put(client, other, tags="mix", visibility="private")  # not shared: never seen
    newest_first = list(reversed(made))
    for query in ({"tag": "mix"}, {"q": "mix"}, {}):
        seen: list[str] = []
        params: dict[str, Any] = {**query, "limit": 2}
        while True:
            body = client.get("/v1/images", headers=me.headers, params=params).json()
            seen += [i["imageId"] for i in body["images"]]
            if not body["next"]:
                break
            params = {**query, "limit": 2, "cursor": body["next"]}
        mine = [i for i in seen if i in made]
        assert mine == newest_first, query
        paged = [
            i
            for page in (1, 2, 3, 4, 5)
            for i in ids(
                client.get(
                    "/v1/images", headers=me.headers, params={**query, "limit": 2, "page": page}
                )
            )
            if i in made
        ]
        assert paged == newest_first, query
    for query in ({"tag": "mix"}, {"q": "mix"}, {"q": "mix", "tag": "mix"}):
        # counted part by part (limit 2: more pages follow), taken from the
        # last page itself, and counted again past the end
        for extra in ({"limit": 2}, {}, {"limit": 2, "page": 9}):
            body = client.get("/v1/images", headers=me.headers, params={**query, **extra}).json()
            assert (body["total"], body["totalCapped"]) == (9, False), (query, extra)


def test_total_is_capped(client: httpx.Client, monkeypatch: Any) -> None:
    from imghost.search import services

    monkeypatch.setattr(services, "COUNT_CAP", 3)
    monkeypatch.setattr(services, "RELEVANCE_CANDIDATES", 4)
    owner = make_user(client)
    made = [put(client, owner, tags="many", title="many") for _ in range(5)]
    body = client.get("/v1/images", params={"tag": "many", "limit": 2}).json()
    assert (body["total"], body["totalCapped"]) == (3, True)
    assert len(body["images"]) == 2 and body["next"]
    # pages go on past the count
    page3 = client.get("/v1/images", params={"tag": "many", "limit": 2, "page": 3})
    assert ids(page3) == [made[0]]
    # relevance ranks the newest candidates only, and says so
    body = client.get("/v1/images", params={"q": "many", "sort": "relevance"}).json()
    assert len(body["images"]) == 4 and made[0] not in ids_of(body)
    assert body["totalCapped"] is True
    # signed in, the owner's hidden images join the count, within the cap
    # (counted, or taken from a last page that shows more than the cap)
    put(client, owner, tags="many", visibility="private")
    for limit in (2, 6):
        body = client.get(
            "/v1/images", headers=owner.headers, params={"tag": "many", "limit": limit}
        ).json()
        assert (body["total"], body["totalCapped"], len(body["images"])) == (3, True, limit)
    # relevance ranks the newest candidates of all parts together
    body = client.get(
        "/v1/images", headers=owner.headers, params={"q": "many", "sort": "relevance"}
    ).json()
    assert (len(body["images"]), body["totalCapped"]) == (4, True)


def ids_of(body: dict[str, Any]) -> list[str]:
    return [i["imageId"] for i in body["images"]]
