"""The per-process facts cache: bounded in time and size, and forgetful on demand."""

from __future__ import annotations

import dataclasses
import datetime as dt

from imghost.delivery.facts_cache import FactsCache
from imghost.images.services import DeliveryFacts


def facts(image_id: str, visibility: str = "public") -> DeliveryFacts:
    return DeliveryFacts(
        id=image_id,
        owner_id="u_1",
        org_id=None,
        visibility=visibility,
        status="ready",
        blob_key=f"u_1/{image_id}/original",
        size=10,
        sha256="0" * 64,
        mime_type="image/jpeg",
        format="jpeg",
        filename=None,
        created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        public_blob_key=None,
        public_sha256=None,
        public_size=None,
        width=1,
        height=1,
        frames=1,
        keep_gps=False,
        original_gps=False,
        scan_status="passed",
        failed_step=None,
        failed_code=None,
        withheld=None,
    )


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def test_entries_expire_after_the_ttl() -> None:
    clock = Clock()
    cache = FactsCache(ttl=1.0, clock=clock)
    cache.put(facts("img_a"))
    clock.now += 0.99
    assert cache.get("img_a") is not None
    clock.now += 0.01
    assert cache.get("img_a") is None


def test_the_oldest_go_first_past_the_capacity() -> None:
    cache = FactsCache(ttl=60, capacity=2)
    for name in ("img_a", "img_b", "img_c"):
        cache.put(facts(name))
    assert [cache.get(n) is not None for n in ("img_a", "img_b", "img_c")] == [False, True, True]


def test_forget_some_or_all() -> None:
    cache = FactsCache(ttl=60)
    for name in ("img_a", "img_b", "img_c"):
        cache.put(facts(name))
    cache.forget({"img_a"})
    assert cache.get("img_a") is None and cache.get("img_b") is not None
    cache.forget(None)
    assert cache.get("img_b") is None and cache.get("img_c") is None


def test_a_new_read_replaces_the_old() -> None:
    cache = FactsCache(ttl=60)
    cache.put(facts("img_a"))
    cache.put(dataclasses.replace(facts("img_a"), visibility="private"))
    got = cache.get("img_a")
    assert got is not None and got.visibility == "private"


def test_only_ready_images_are_kept() -> None:
    cache = FactsCache(ttl=60)
    cache.put(dataclasses.replace(facts("img_a"), status="processing"))
    assert cache.get("img_a") is None


def test_ttl_zero_keeps_nothing() -> None:
    cache = FactsCache(ttl=0)
    cache.put(facts("img_a"))
    assert cache.get("img_a") is None
