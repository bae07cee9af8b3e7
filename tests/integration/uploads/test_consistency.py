"""Blob and row stay consistent when the database refuses the row.

A real trigger in the real database makes the INSERT fail; the blob that was
already written must be removed at once, and nothing must be left half-done.
"""

from __future__ import annotations

import anyio
import httpx
from sqlalchemy import text

from imghost.context import AppContext
from tests.conftest import LiveServer
from tests.factories import image_bytes, make_user

SQLITE_TRIGGER = """
CREATE TRIGGER refuse_boom BEFORE INSERT ON images
WHEN NEW.title = 'boom'
BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END
"""
PG_FUNCTION = """
CREATE FUNCTION refuse_boom() RETURNS trigger AS $$
BEGIN
  IF NEW.title = 'boom' THEN RAISE EXCEPTION 'refused by test trigger'; END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql
"""
PG_TRIGGER = (
    "CREATE TRIGGER refuse_boom BEFORE INSERT ON images FOR EACH ROW EXECUTE FUNCTION refuse_boom()"
)


def _install_trigger_and_list(live: LiveServer, install: bool) -> list[str]:
    async def run() -> list[str]:
        ctx = AppContext.build(live.settings)
        try:
            if install:
                async with ctx.engine.begin() as conn:
                    if conn.dialect.name == "sqlite":
                        await conn.execute(text(SQLITE_TRIGGER))
                    else:
                        await conn.execute(text(PG_FUNCTION))
                        await conn.execute(text(PG_TRIGGER))
            return [m.key async for m in ctx.store.list("")]
        finally:
            await ctx.close()

    return anyio.run(run)


def test_failed_insert_leaves_no_blob(client: httpx.Client, live: LiveServer) -> None:
    user = make_user(client)
    assert _install_trigger_and_list(live, install=True) == []
    r = client.post(
        "/v1/images",
        headers=user.headers,
        files={"file": ("a.png", image_bytes("PNG"), "image/png")},
        data={"title": "boom"},
    )
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "internal_error"
    assert _install_trigger_and_list(live, install=False) == []
    # In a batch, the refused file does not take the good one down with it.
    files = [
        ("file", ("a.png", image_bytes("PNG"), "image/png")),
        ("file", ("b.png", image_bytes("PNG", color=(1, 2, 3)), "image/png")),
    ]
    ok = client.post("/v1/images", headers=user.headers, files=files, data={"title": "fine"})
    assert ok.status_code == 201 and len(ok.json()["images"]) == 2
    keys = [k for k in _install_trigger_and_list(live, install=False) if k.endswith("/original")]
    assert sorted(keys) == sorted(
        f"{user.user_id}/{i['imageId']}/original" for i in ok.json()["images"]
    )
