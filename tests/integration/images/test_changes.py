"""Every committed change to images, through any session of the process, is reported
(``images.changes``): the delivery caches rely on it to forget at once."""

from __future__ import annotations

import httpx
from sqlalchemy import update

from imghost.context import AppContext
from imghost.images import changes
from imghost.images.models import Image
from tests.conftest import LiveServer
from tests.factories import make_user, upload_ok
from tests.helpers.context import with_ctx


def test_commits_report_what_they_changed(client: httpx.Client, live: LiveServer) -> None:
    owner = make_user(client)
    iid = upload_ok(client, owner)["imageId"]  # processed: no job changes it meanwhile
    heard: list[set[str] | None] = []
    stop = changes.watch(heard.append)

    async def work(ctx: AppContext) -> None:
        async with ctx.sessions() as session:  # an object changed: its id
            image = await session.get(Image, iid)
            assert image is not None
            image.title = "renamed"
            await session.commit()
        async with ctx.sessions() as session:  # a bulk statement: rows unknown
            await session.execute(update(Image).where(Image.id == iid).values(title="again"))
            await session.commit()
        async with ctx.sessions() as session:  # rolled back: nothing happened
            image = await session.get(Image, iid)
            assert image is not None
            image.title = "never"
            await session.flush()
            await session.rollback()
        async with ctx.sessions() as session:  # a read: nothing changed
            await session.get(Image, iid)
            await session.commit()

    try:
        with_ctx(live.settings, work)
    finally:
        stop()
    assert heard == [{iid}, None]


def test_a_change_through_another_context_reaches_the_servers_cache(
    client: httpx.Client, live: LiveServer
) -> None:
    owner = make_user(client)
    iid = upload_ok(client, owner)["imageId"]
    assert client.get(f"/images/{iid}").status_code == 200  # its facts are cached now

    async def hide(ctx: AppContext) -> None:
        async with ctx.sessions() as session:
            image = await session.get(Image, iid)
            assert image is not None
            image.visibility = "private"
            await session.commit()

    with_ctx(live.settings, hide)
    assert client.get(f"/images/{iid}").status_code == 403
