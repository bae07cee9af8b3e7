"""Migration 0013: private images and albums that others reach become shared,
the rest stay private, and the downgrade turns shared back into private — on
both backends."""

from __future__ import annotations

import datetime as dt
from typing import Any

import anyio
from alembic import command
from sqlalchemy import text

from imghost.db import create_engine
from imghost.migrate import alembic_config, upgrade

# image id -> (visibility before, org, visibility after 0013)
IMAGES = {
    "img_plain": ("private", None, "private"),  # no grant at all
    "img_collab": ("private", None, "shared"),  # a collaborator
    "img_link": ("private", None, "shared"),  # a live share link
    "img_expired": ("private", None, "shared"),  # an expired (not revoked) link
    "img_revoked": ("private", None, "private"),  # only a revoked link
    "img_org": ("private", "org_1", "shared"),  # org members see it by role
    "img_in_collab_album": ("private", None, "shared"),
    "img_in_link_album": ("private", None, "shared"),
    "img_in_org_album": ("private", "org_1", "shared"),
    "img_in_plain_album": ("private", None, "private"),  # an album nobody else reaches
    "img_in_revoked_album": ("private", None, "private"),
    "img_public": ("public", None, "public"),  # other values are left alone
    "img_unlisted": ("unlisted", None, "unlisted"),
}
# album id -> (visibility before, org, visibility after 0013, images)
ALBUMS = {
    "alb_collab": ("private", None, "shared", ["img_in_collab_album"]),
    "alb_link": ("private", None, "shared", ["img_in_link_album"]),
    "alb_org": ("private", "org_1", "shared", ["img_in_org_album"]),
    "alb_plain": ("private", None, "private", ["img_in_plain_album"]),
    "alb_revoked": ("private", None, "private", ["img_in_revoked_album"]),
    "alb_public": ("public", None, "public", []),
}


def _sql_value(value: str | None) -> str:
    return "NULL" if value is None else f"'{value}'"


def _seed() -> list[str]:
    statements = [
        "INSERT INTO users (id, username, email, password_hash, default_visibility, keep_gps,"
        " is_admin, created_at, updated_at) VALUES"
        " ('u_1', 'ann', 'ann@example.com', 'h', 'public', false, false, :now, :now),"
        " ('u_2', 'bob', 'bob@example.com', 'h', 'public', false, false, :now, :now)",
        "INSERT INTO orgs (id, name, created_by, created_at) VALUES ('org_1', 'T', 'u_1', :now)",
    ]
    for image_id, (visibility, org, _) in IMAGES.items():
        statements.append(
            "INSERT INTO images (id, owner_id, org_id, visibility, status, format, mime_type,"
            " size, width, height, frames, sha256, blob_key, keep_gps, view_count, created_at,"
            f" updated_at) VALUES ('{image_id}', 'u_1', {_sql_value(org)}, '{visibility}',"
            f" 'ready', 'jpeg', 'image/jpeg', 1, 1, 1, 1, 'h', 'u_1/{image_id}/original', false,"
            " 0, :now, :now)"
        )
    for album_id, (visibility, org, _, images) in ALBUMS.items():
        statements.append(
            "INSERT INTO albums (id, owner_id, org_id, title, visibility, created_at, updated_at)"
            f" VALUES ('{album_id}', 'u_1', {_sql_value(org)}, 'A', '{visibility}', :now, :now)"
        )
        for position, image_id in enumerate(images):
            statements.append(
                "INSERT INTO album_images (album_id, image_id, position, added_by, added_at)"
                f" VALUES ('{album_id}', '{image_id}', {position}, 'u_1', :now)"
            )
    statements += [
        "INSERT INTO image_collaborators (image_id, user_id, permission, granted_by, created_at)"
        " VALUES ('img_collab', 'u_2', 'view', 'u_1', :now),"
        " ('img_public', 'u_2', 'edit', 'u_1', :now)",
        "INSERT INTO album_collaborators (album_id, user_id, permission, granted_by, created_at)"
        " VALUES ('alb_collab', 'u_2', 'view', 'u_1', :now)",
        _link("lnk_1", "image_id", "img_link", revoked=False),
        _link("lnk_2", "image_id", "img_revoked", revoked=True),
        _link("lnk_3", "album_id", "alb_link", revoked=False),
        _link("lnk_4", "album_id", "alb_revoked", revoked=True),
        _link("lnk_5", "image_id", "img_expired", revoked=False, expires=":past"),
        "INSERT INTO image_tags (image_id, tag, position) VALUES ('img_collab', 'x', 0)",
    ]
    return statements


def _link(link_id: str, column: str, target: str, *, revoked: bool, expires: str = "NULL") -> str:
    return (
        f"INSERT INTO share_links (id, {column}, created_by, permissions, views, expires_at,"
        f" created_at, revoked_at) VALUES ('{link_id}', '{target}', 'u_1', '[\"view\"]', 0,"
        f" {expires}, :now, {':now' if revoked else 'NULL'})"
    )


def _run(url: str, statements: list[str], query: str | None = None) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        engine = create_engine(url)
        now = dt.datetime.now(dt.UTC)
        try:
            async with engine.begin() as conn:
                for sql in statements:
                    params = {"now": now, "past": now - dt.timedelta(days=1)}
                    await conn.execute(text(sql), params)
                if query is None:
                    return {}
                return {row[0]: row[1] for row in await conn.execute(text(query))}
        finally:
            await engine.dispose()

    return anyio.run(main)


IMAGE_VISIBILITY = "SELECT id, visibility FROM images"
ALBUM_VISIBILITY = "SELECT id, visibility FROM albums"


def test_private_with_grants_becomes_shared_and_back(database: str) -> None:
    upgrade(database, "0012")
    _run(database, _seed())
    upgrade(database, "0013_shared_visibility")
    assert _run(database, [], IMAGE_VISIBILITY) == {k: v[2] for k, v in IMAGES.items()}
    assert _run(database, [], ALBUM_VISIBILITY) == {k: v[2] for k, v in ALBUMS.items()}
    # The listing copies (0010) stay unlisted: only public images are listed.
    listed = "SELECT image_id, listed FROM image_tags"
    assert {k: bool(v) for k, v in _run(database, [], listed).items()} == {"img_collab": False}
    # An upload default of `shared` (new with 0013) goes back to `private` too.
    _run(database, ["UPDATE users SET default_visibility = 'shared' WHERE id = 'u_2'"])

    # One step back from 0013, whatever revision comes before it.
    command.downgrade(alembic_config(database), "-1")
    before = {k: v[0] for k, v in IMAGES.items()}
    assert _run(database, [], IMAGE_VISIBILITY) == before
    assert _run(database, [], ALBUM_VISIBILITY) == {k: v[0] for k, v in ALBUMS.items()}
    defaults = "SELECT id, default_visibility FROM users"
    assert _run(database, [], defaults) == {"u_1": "public", "u_2": "private"}
