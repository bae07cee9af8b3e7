"""Which blobs the rendition cache owns, its settings, and the use notes."""

from __future__ import annotations

from typing import Any

import pytest

from imghost.checks import check_settings
from imghost.processing import rendition_cache
from imghost.processing.rendition_cache import RenditionCache, is_rendition, touch_every
from imghost.processing.variants import PREGENERATED, derived_key, preset_name
from imghost.settings import Settings, SettingsError

ORIGINAL = "u_1/img_1/original"


def test_renditions_are_the_ones_made_only_on_request() -> None:
    assert is_rendition(derived_key(ORIGINAL, "t/w_20,c_inside,q_82.png"))
    assert is_rendition(derived_key(ORIGINAL, "thumb.avif"))
    # The owner's bytes: the original, pre-generated presets, the GPS-free copy.
    assert not is_rendition(ORIGINAL)
    assert not is_rendition(derived_key(ORIGINAL, "original-nogps"))
    for name, ext in PREGENERATED:
        assert not is_rendition(derived_key(ORIGINAL, preset_name(name, ext)))
    assert not is_rendition("uploads/up_1")


def test_bounds_are_validated() -> None:
    assert Settings().rendition_cache_per_image <= Settings().rendition_cache_total
    invalid: list[dict[str, Any]] = [
        {"rendition_cache_per_image": 0},
        {"rendition_cache_per_image": 10, "rendition_cache_total": 5},
        {"rendition_cache_max_age": 0},
    ]
    for bad in invalid:
        with pytest.raises(SettingsError):
            check_settings(Settings(**bad))


class _Deps:
    settings = Settings(rendition_cache_max_age=3600)


@pytest.mark.anyio
async def test_a_rendition_is_noted_once_per_interval(monkeypatch: Any) -> None:
    """A hit costs a dict lookup; the database hears of it once per interval."""
    flushed: list[int] = []

    async def flush(self: RenditionCache) -> None:
        flushed.append(len(self._pending))
        self._pending = set()

    monkeypatch.setattr(RenditionCache, "flush", flush)
    monkeypatch.setattr(rendition_cache, "FLUSH_DELAY", 0)
    deps: Any = _Deps()
    cache = RenditionCache(deps)
    assert touch_every(deps.settings) == 900
    for _ in range(100):
        cache.used("a/img_1/derived/v1/t/w_1.png")
    cache.used("a/img_1/derived/v1/t/w_2.png")
    assert cache._flusher is not None
    await cache._flusher
    assert flushed == [2]
