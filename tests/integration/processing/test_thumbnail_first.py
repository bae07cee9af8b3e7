"""The processing job stores and records an image's thumbnails before it makes
the other presets: while the rest is being made they are listed and served
(to those who may see a `processing` image: its owner), and the image turns
`ready` only once every preset exists.

The job runs in this process (``work``) with its second pixel pass held until
the test has looked: a JPEG (decoded small for the thumbnail, then again)
and a PNG (decoded once, its pixels handed to the second pass).
"""

from __future__ import annotations

import concurrent.futures
import queue
import threading
from typing import Any

import httpx
import pytest

from imghost.processing import pixels, tasks
from tests.conftest import BACKENDS, LiveServer, backend_fixture
from tests.factories import UserHandle, image_bytes, make_user, upload
from tests.integration.images.test_versions import check_served
from tests.integration.processing.test_failures import work

# What is new here is the job's order; the stores' part is the usual put and read.
backend = backend_fixture(BACKENDS)


def _image(client: httpx.Client, owner: UserHandle, image_id: str) -> dict[str, Any]:
    r = client.get(f"/v1/images/{image_id}", headers=owner.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_the_thumbnails_come_first(settings_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    held: queue.Queue[threading.Event] = queue.Queue()
    second_pass = pixels.second_pass

    def after_a_look(*args: Any) -> Any:
        go_on = threading.Event()
        held.put(go_on)
        assert go_on.wait(60)
        return second_pass(*args)

    monkeypatch.setattr(tasks, "second_pass", after_a_look)
    settings = settings_factory(run_worker=False)
    with (
        LiveServer(settings) as live,
        httpx.Client(base_url=live.url, timeout=60) as client,
        concurrent.futures.ThreadPoolExecutor(1) as background,
    ):
        owner = make_user(client)
        ids = [
            upload(
                client, owner, data=image_bytes(fmt, size=(900, 600)), visibility="public"
            ).json()["imageId"]
            for fmt in ("JPEG", "PNG")
        ]
        worked = background.submit(work, live)
        for image_id in ids:  # the worker takes them in order, one at a time
            go_on = held.get(timeout=60)
            try:
                body = _image(client, owner, image_id)
                assert body["status"] == "processing"
                thumbs = [v for v in body["versions"] if v["kind"] == "preset"]
                assert {(v["name"], v["format"]) for v in thumbs} == {
                    ("thumb", "jpeg"),
                    ("thumb", "webp"),
                }
                for version in thumbs:
                    check_served(client, version, owner.headers)
                # Still processing: nobody else sees it.
                assert client.get(f"/images/{image_id}/thumb.webp").status_code == 404
            finally:
                go_on.set()
        assert worked.result(timeout=120) == 2
        for image_id in ids:
            body = _image(client, owner, image_id)
            assert body["status"] == "ready"
            assert len([v for v in body["versions"] if v["kind"] == "preset"]) == 8
            assert client.get(f"/images/{image_id}/thumb.webp").status_code == 200
