"""The moderation world: one live server per module and backend (see world.py)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import LiveServer
from tests.integration.moderation.world import World, build, module_settings


@pytest.fixture(scope="module", params=["sqlite-local", "postgres-s3"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("moderation")
    for settings in module_settings(request, str(request.param), tmp):
        with LiveServer(settings) as live, httpx.Client(base_url=live.url, timeout=60) as c:
            yield build(live, c)
