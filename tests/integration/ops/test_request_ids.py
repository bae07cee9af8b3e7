"""X-Request-Id: believed from a trusted proxy only, made otherwise, echoed, and
carried into the log lines of the jobs the request queued."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer
from tests.factories import make_user, upload_ok


@pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)
def test_request_id_follows_the_upload_into_its_job(
    settings_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="imghost.processing.tasks")
    # The test client connects from 127.0.0.1: here that is the trusted proxy.
    with (
        LiveServer(settings_factory(trusted_proxies="127.0.0.1")) as live,
        httpx.Client(base_url=live.url, timeout=30) as client,
    ):
        r = client.get("/healthz", headers={"X-Request-Id": "edge-1234.abc"})
        assert r.headers["x-request-id"] == "edge-1234.abc"
        r = client.get("/healthz", headers={"X-Request-Id": "two words\tand a tab"})
        assert r.headers["x-request-id"] != "two words\tand a tab"
        assert len(r.headers["x-request-id"]) == 32

        user = make_user(client)
        client.headers["X-Request-Id"] = "upload-req-42"
        image = upload_ok(client, user)
    lines = [
        record
        for record in caplog.records
        if record.getMessage().startswith(f"image processing {image['imageId']}")
    ]
    assert [getattr(record, "request_id", None) for record in lines] == ["upload-req-42"]


@pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)
def test_an_untrusted_peer_gets_an_id_of_ours(client: httpx.Client) -> None:
    first = client.get("/healthz", headers={"X-Request-Id": "forged"})
    second = client.get("/healthz")
    assert first.headers["x-request-id"] != "forged"
    assert len({first.headers["x-request-id"], second.headers["x-request-id"]}) == 2
