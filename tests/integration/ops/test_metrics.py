"""GET /metrics on a live server: who may read it, and what it counts after real
requests (parsed with prometheus-client's own parser)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import LiveServer
from tests.factories import assert_problem, make_user, upload_ok

TOKEN = "metrics-token-for-the-tests-0123456789"


def scrape(client: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(r.text)
        for sample in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)
def test_metrics_after_real_requests(settings_factory: Any, tmp_path: Path) -> None:
    settings = settings_factory(
        metrics_token=TOKEN,
        metrics_dir=str(tmp_path / "metrics"),
        rate_limits_anonymous="views=2/minute",
    )
    with LiveServer(settings) as live, httpx.Client(base_url=live.url, timeout=30) as client:
        assert_problem(client.get("/metrics"), 401, "unauthorized")
        r = client.get("/metrics", headers={"Authorization": "Bearer " + "x" * len(TOKEN)})
        assert_problem(r, 401, "unauthorized")
        before = scrape(client)

        user = make_user(client)
        image = upload_ok(client, user, visibility="public")
        path = f"/images/{image['imageId']}"
        assert client.get(path).status_code == 200  # the facts were read at processing's end
        assert client.get(path).status_code == 200
        assert_problem(client.get(path), 429, "rate_limited")
        client.get("/no/such/page")
        after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert (
        grew("imghost_http_requests_total", route="/images/{image_id}", method="GET", status="2xx")
        == 2
    )
    assert (
        grew("imghost_http_requests_total", route="/images/{image_id}", method="GET", status="4xx")
        == 0
    )
    # The refusal came before routing, as did the 404 of a path no route has.
    assert grew("imghost_http_requests_total", route="unrouted", method="GET", status="4xx") == 2
    assert (
        grew("imghost_http_request_duration_seconds_count", route="/v1/images", method="POST") == 1
    )
    assert grew("imghost_rate_limit_refusals_total", kind="views") == 1
    assert grew("imghost_upload_bytes_total", kind="direct") > 0
    assert grew("imghost_processing_step_seconds_count", step="decode") >= 1
    assert grew("imghost_delivery_cache_lookups_total", cache="blobs", result="hit") >= 1
    # The scrape-time figures: the queue read from the database, readiness, disks.
    assert value(after, "imghost_job_stats_up") == 1
    assert value(after, "imghost_ready") == 1
    assert value(after, "imghost_ready_check", check="database") == 1
    assert value(after, "imghost_disk_free_bytes", volume="staging") > 0
    assert value(after, "imghost_processes", role="api") >= 1
    # No raw path (an id) ever becomes a label.
    assert not any(image["imageId"] in str(labels) for _, labels in after)


@pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)
def test_metrics_are_off_without_a_token(client: httpx.Client) -> None:
    # Nothing says they exist: no scraper can be set up against an open door.
    assert_problem(client.get("/metrics"), 404, "not_found")
