"""A default install signs with no published key (issue 14, item 7).

Before, ``IMGHOST_SECRET_KEY`` defaulted to a constant in the source: anyone
could mint a 3-year access token or a signed URL to any private image.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from imghost.auth.tokens import issue_access_token
from imghost.settings import Settings, SettingsError
from imghost.signing import SigningKeys, sign_url
from tests.conftest import LiveServer
from tests.factories import make_user, upload_ok

OLD_PLACEHOLDER = "change-me-insecure-development-secret"


def _without_key(settings: Settings) -> dict[str, Any]:
    values = {k: getattr(settings, k) for k in settings.__dataclass_fields__}
    del values["secret_key"]  # as a default install: IMGHOST_SECRET_KEY not set
    return values


def test_tokens_and_signed_urls_made_with_the_old_placeholder_are_refused(
    settings_factory: Any, backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the default data directory is ./data
    values = _without_key(settings_factory())
    if backend != "sqlite-local":
        # Several hosts would each generate their own key: refuse instead.
        with pytest.raises(SettingsError, match="IMGHOST_SECRET_KEY must be set"):
            Settings(**values)
        return
    settings = Settings(**values)
    with LiveServer(settings) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        owner = make_user(client)
        image = upload_ok(client, owner, visibility="private")
        assert client.get("/v1/users/me", headers=owner.headers).status_code == 200

        claims = jwt.decode(owner.access_token, options={"verify_signature": False})
        forged = issue_access_token(
            OLD_PLACEHOLDER, owner.user_id, claims["sid"], 3 * 365 * 86400, dt.datetime.now(dt.UTC)
        )
        r = client.get("/v1/users/me", headers={"Authorization": f"Bearer {forged}"})
        assert r.status_code == 401, r.text

        path = f"/images/{image['imageId']}"
        assert client.get(path).status_code in (401, 403, 404)  # private
        exp = int(time.time()) + 3600
        genuine = sign_url(SigningKeys.parse("", settings.secret_key), path, exp, ["download"])
        assert client.get(path, params=genuine).status_code == 200
        forged_url = sign_url(SigningKeys.parse("", OLD_PLACEHOLDER), path, exp, ["download"])
        r = client.get(path, params=forged_url)
        assert r.status_code in (401, 403, 404), r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    assert settings.secret_key == (tmp_path / "data" / "secret_key").read_text().strip()
