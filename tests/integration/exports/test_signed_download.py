"""The export's signed download link: the ZIP without signing in, while the link,
the export and the account all last; changed or late links are refused."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from sqlalchemy import update

from imghost.accounts.models import User
from imghost.exports import tasks
from imghost.exports.links import ExportLinks
from imghost.settings import Settings
from imghost.signing import SigningKeys
from tests.conftest import LiveServer
from tests.factories import UserHandle, assert_problem, make_user, upload_ok
from tests.helpers.context import with_ctx
from tests.helpers.db import run_sql
from tests.integration.exports.test_export import run_export, start
from tests.integration.lifecycle.helpers import DAY


@pytest.fixture
def settings(settings_factory: Any) -> Settings:
    return settings_factory(run_worker=False)  # type: ignore[no-any-return]


@pytest.fixture
def live(settings: Settings) -> Iterator[LiveServer]:
    with LiveServer(settings) as server:
        yield server


def _ready(client: httpx.Client, live: LiveServer, user: UserHandle) -> dict[str, Any]:
    upload_ok(client, user, processed=False)
    run_export(live, start(client, user))
    body: dict[str, Any] = client.get("/v1/users/me/export", headers=user.headers).json()
    assert body["status"] == "ready", body
    return body


def _relative(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _stamp(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_the_signed_link_downloads_without_signing_in(
    client: httpx.Client, live: LiveServer
) -> None:
    user = make_user(client)
    body = _ready(client, live, user)
    url = body["downloadUrl"]
    assert url.startswith(f"{live.url}/v1/exports/{body['exportId']}/download?")
    # Short-lived (a day by default), never past the export's own expiry.
    until = _stamp(body["downloadUrlExpiresAt"])
    assert until <= _stamp(body["expiresAt"])
    assert abs(until - (dt.datetime.now(dt.UTC) + DAY)) < dt.timedelta(minutes=5)
    signed_in = client.get("/v1/users/me/export/download", headers=user.headers)
    assert signed_in.status_code == 200, signed_in.text
    r = httpx.get(url)  # no bearer, no cookies
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["cache-control"] == "private, no-store"
    assert "attachment" in r.headers["content-disposition"]
    assert r.headers["content-length"] == str(body["size"])
    assert r.content == signed_in.content
    # The ready notification carries a signed link that works the same way.
    notes = client.get("/v1/notifications", headers=user.headers).json()["notifications"]
    (note,) = [n for n in notes if n["kind"] == "export.ready"]
    assert note["data"]["downloadUrl"].startswith(f"{live.url}/v1/exports/")
    assert note["data"]["downloadUrl"] in note["body"]
    assert httpx.get(note["data"]["downloadUrl"]).content == signed_in.content


def test_a_changed_or_expired_link_is_refused(client: httpx.Client, live: LiveServer) -> None:
    user, other = make_user(client), make_user(client)
    mine = _ready(client, live, user)
    theirs = _ready(client, live, other)
    path = urlsplit(mine["downloadUrl"]).path
    query = dict(parse_qsl(urlsplit(mine["downloadUrl"]).query))
    for changed in (
        {**query, "sig": query["sig"][:-2] + ("AA" if query["sig"][-2:] != "AA" else "BB")},
        {**query, "exp": str(int(query["exp"]) + 3600)},
        {**query, "kid": "k1"},
        {k: v for k, v in query.items() if k != "sig"},
        {},
    ):
        r = client.get(f"{path}?{urlencode(changed)}")
        assert_problem(r, 403, "invalid_download_link")
    # One export's signature does not open another's ZIP.
    other_path = urlsplit(theirs["downloadUrl"]).path
    assert_problem(client.get(f"{other_path}?{urlencode(query)}"), 403, "invalid_download_link")
    # A link minted two days ago for a day has expired, though the export has not.
    links = ExportLinks(SigningKeys.single(live.settings.secret_key), live.url, 86_400)
    past = dt.datetime.now(dt.UTC) - 2 * DAY
    late, _ = links.mint(mine["exportId"], _stamp(mine["expiresAt"]), past)
    assert_problem(client.get(_relative(late)), 410, "download_link_expired")
    # A link of this install is no bearer credential for anything else.
    r = client.get("/v1/users/me/export", params=query)
    assert_problem(r, 401, "unauthorized")


def test_the_link_ends_with_the_export(client: httpx.Client, live: LiveServer) -> None:
    user = make_user(client)
    url = _relative(_ready(client, live, user)["downloadUrl"])
    assert client.get(url).status_code == 200
    assert with_ctx(
        live.settings, lambda ctx: tasks.expire(ctx.exports, dt.datetime.now(dt.UTC) + 8 * DAY)
    )
    assert_problem(client.get(url), 410, "export_gone")
    assert client.get("/v1/users/me/export", headers=user.headers).json()["downloadUrl"] is None


def test_the_link_ends_with_the_account(client: httpx.Client, live: LiveServer) -> None:
    user = make_user(client)
    url = _relative(_ready(client, live, user)["downloadUrl"])
    # The account is a tombstone (the deletion's first step): its ZIP is not
    # served any more, though the rows and bytes are not purged yet.
    run_sql(
        live.settings,
        update(User).where(User.id == user.user_id).values(deleted_at=dt.datetime.now(dt.UTC)),
    )
    assert_problem(client.get(url), 410, "export_gone")
