"""The service keeps its startup heap out of full collections while it serves."""

from __future__ import annotations

import gc
from typing import Any

import httpx

from tests.conftest import LiveServer


def test_startup_heap_is_frozen_while_serving(settings_factory: Any) -> None:
    assert gc.get_freeze_count() == 0
    with LiveServer(settings_factory(freeze_heap=True)) as server:
        frozen = gc.get_freeze_count()
        assert frozen > 10_000  # modules, models, routes
        assert httpx.get(f"{server.url}/healthz", timeout=30).status_code == 200
    # stopped: everything is the collector's again (another app may start)
    assert gc.get_freeze_count() == 0


def test_tests_run_without_it(settings_factory: Any) -> None:
    with LiveServer(settings_factory()):
        assert gc.get_freeze_count() == 0
