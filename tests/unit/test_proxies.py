"""uvicorn believes X-Forwarded-For only from the proxies listed in IMGHOST_TRUSTED_PROXIES."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import uvicorn

from imghost.proxies import parse_trusted_proxies, uvicorn_proxy_kwargs
from imghost.settings import Settings, SettingsError


async def _client_seen(trusted: str, peer: str, forwarded_for: str) -> str:
    """The client address the app sees behind a Config built the way `serve` builds it."""
    seen: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["client"][0])

    config = uvicorn.Config(app, **uvicorn_proxy_kwargs(trusted))
    config.load()
    scope = {
        "type": "http",
        "client": (peer, 50000),
        "headers": [(b"x-forwarded-for", forwarded_for.encode())],
    }
    await config.loaded_app(scope, None, None)
    return seen[0]


@pytest.mark.parametrize(
    ("trusted", "peer", "client"),
    [
        ("", "127.0.0.1", "127.0.0.1"),  # the default: nobody, not even loopback
        ("", "::1", "::1"),
        ("10.0.0.0/8", "127.0.0.1", "127.0.0.1"),
        ("10.0.0.0/8", "10.1.2.3", "198.51.100.7"),
        ("10.1.2.3", "10.1.2.3", "198.51.100.7"),
        ("10.1.2.3/8", "10.9.9.9", "198.51.100.7"),  # host bits are dropped
        ("127.0.0.1, ::1", "::1", "198.51.100.7"),
        ("*", "192.0.2.1", "198.51.100.7"),
    ],
)
def test_forwarded_for_is_believed_only_from_listed_proxies(
    trusted: str, peer: str, client: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")  # uvicorn's own default must not apply
    assert asyncio.run(_client_seen(trusted, peer, "198.51.100.7")) == client


def test_trusted_proxies_setting_is_validated() -> None:
    assert parse_trusted_proxies(" 10.0.0.1 ,, fd00::/8") == ["10.0.0.1", "fd00::/8"]
    with pytest.raises(SettingsError, match=r"IMGHOST_TRUSTED_PROXIES.*'proxy\.local'"):
        Settings(secret_key="k" * 40, trusted_proxies="10.0.0.1, proxy.local")
    assert Settings(secret_key="k" * 40).trusted_proxies == ""
