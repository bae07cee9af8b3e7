"""Image events (image.uploaded, .ready, .quarantined, .failed, .deleted, .restored,
.purged) to webhooks: signed, sent by the change's own commit, never in-app."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from imghost.notifications.signing import verify
from tests.conftest import LiveServer
from tests.factories import UserHandle, image_bytes, make_user, upload, upload_ok
from tests.helpers.big_images import gradient_png
from tests.integration.notifications.helpers import notifications, wait_until
from tests.integration.notifications.receivers import WebhookReceiver
from tests.integration.processing.test_failures import work
from tests.integration.quotas.helpers import presign, put_presigned
from tests.integration.tus.helpers import status, upload_whole
from tests.integration.uploads.source_server import SourceServer


@pytest.fixture
def receiver() -> Any:
    with WebhookReceiver() as r:
        yield r


def hook(client: httpx.Client, user: UserHandle, url: str, kinds: list[str]) -> dict[str, Any]:
    r = client.post("/v1/webhooks", json={"url": url, "kinds": kinds}, headers=user.headers)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def events(receiver: WebhookReceiver, count: int) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in receiver.wait_for(count)]


def kinds_for(client: httpx.Client, user: UserHandle, hook_id: str) -> Counter[str]:
    r = client.get(f"/v1/webhooks/{hook_id}/deliveries", headers=user.headers)
    assert r.status_code == 200, r.text
    return Counter(d["kind"] for d in r.json()["deliveries"])


def test_an_image_life_is_told_to_webhooks_only(
    client: httpx.Client, receiver: WebhookReceiver
) -> None:
    owner = make_user(client)
    made = hook(client, owner, receiver.url, ["image.*"])
    # Another hook of the owner that does not subscribe gets nothing.
    other = hook(client, owner, receiver.url + "?shares", ["share.*"])
    image = upload_ok(client, owner, title="Pier")
    image_id = image["imageId"]
    got = events(receiver, 2)
    assert Counter(e["kind"] for e in got) == {"image.uploaded": 1, "image.ready": 1}
    for request, event in zip(receiver.requests, got, strict=True):
        assert request.path == "/hook"
        assert request.headers["Imghost-Event"] == event["kind"]
        assert verify(made["secret"], request.body, request.headers["Imghost-Signature"])
        assert event["data"]["imageId"] == image_id
        assert event["data"]["ownerId"] == owner.user_id
        assert event["data"]["sha256"] and event["title"]
    ready = next(e for e in got if e["kind"] == "image.ready")
    assert ready["data"]["status"] == "ready"

    r = client.delete(f"/v1/images/{image_id}", headers=owner.headers)
    assert r.status_code == 200, r.text
    # A second delete of a trashed image changes nothing and tells nothing.
    client.delete(f"/v1/images/{image_id}", headers=owner.headers)
    r = client.post(f"/v1/images/{image_id}/restore", headers=owner.headers)
    assert r.status_code == 200, r.text
    r = client.delete(f"/v1/images/{image_id}?permanent=true", headers=owner.headers)
    assert r.status_code == 200, r.text
    got = events(receiver, 6)
    assert [e["kind"] for e in got[2:]] == [
        "image.deleted",
        "image.restored",
        "image.deleted",
        "image.purged",
    ]
    assert got[2]["data"]["deletedAt"] and got[3]["data"]["deletedAt"] is None
    assert kinds_for(client, owner, made["webhookId"])["image.deleted"] == 2
    assert kinds_for(client, owner, other["webhookId"]) == {}
    # Webhooks only: no in-app notification, no unread count, no e-mail.
    listed = notifications(client, owner)
    assert listed["notifications"] == [] and listed["unreadCount"] == 0


def test_quarantine_is_an_event(client: httpx.Client, receiver: WebhookReceiver) -> None:
    owner = make_user(client)
    hook(client, owner, receiver.url, ["image.uploaded", "image.quarantined"])
    data = image_bytes("JPEG", size=(64, 64)) + b"<?php system($_GET['c']); ?>" + b" " * 2048
    image = upload_ok(client, owner, data=data)
    assert image["status"] == "quarantined"
    got = events(receiver, 2)
    assert [e["kind"] for e in got] == ["image.uploaded", "image.quarantined"]
    assert got[1]["data"]["status"] == "quarantined" and got[1]["data"]["statusReason"]


def test_a_user_without_webhooks_gets_no_event_rows(client: httpx.Client) -> None:
    owner = make_user(client)
    upload_ok(client, owner)
    listed = notifications(client, owner)
    assert listed["notifications"] == [] and listed["unreadCount"] == 0


# The failure is injected through the local filesystem (as in
# tests/integration/processing/test_failures.py): SQLite + local files only.
@pytest.mark.parametrize("backend", ["sqlite-local"])
def test_processing_that_fails_for_good_is_an_event(
    settings_factory: Any, backend: str, receiver: WebhookReceiver
) -> None:
    settings = settings_factory(run_worker=False, job_max_attempts=1, webhook_allow_private=True)
    with LiveServer(settings) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        owner = make_user(client)
        hook(client, owner, receiver.url, ["image.failed"])
        r = upload(client, owner, data=gradient_png(400, 300))
        assert r.status_code == 201, r.text
        image_id = r.json()["imageId"]
        blobs = Path(live.settings.storage_url.removeprefix("file://"))
        (blobs / owner.user_id / image_id / "derived").write_bytes(b"in the way")
        deadline = time.monotonic() + 30
        # The processing job fails and is dead (one attempt); then the delivery job runs.
        while not receiver.requests:
            work(live)
            assert time.monotonic() < deadline, "no image.failed delivery"
        event = json.loads(receiver.requests[0].body)
        assert event["kind"] == "image.failed"
        assert event["data"]["imageId"] == image_id and event["data"]["status"] == "failed"
        wait_until(lambda: len(receiver.requests) == 1, what="one delivery")


def test_every_upload_path_says_uploaded_but_a_duplicate_does_not(
    settings_factory: Any, receiver: WebhookReceiver
) -> None:
    settings = settings_factory(
        run_worker=False, webhook_allow_private=True, fetch_allow_private=True
    )
    with (
        SourceServer() as source,
        LiveServer(settings) as live,
        httpx.Client(base_url=live.url, timeout=60) as client,
    ):
        owner = make_user(client)
        hook(client, owner, receiver.url, ["image.uploaded"])
        # presigned
        data = image_bytes(color=(3, 1, 4))
        upload_id = put_presigned(presign(client, owner, data), data)
        r = client.post("/v1/images", headers=owner.headers, json={"uploadId": upload_id})
        assert r.status_code == 201, r.text
        made = [r.json()["imageId"]]
        # tus
        path = upload_whole(client, owner, image_bytes(color=(1, 5, 9)))
        made.append(status(client, owner, path)["imageId"])
        # from a URL
        r = client.post(
            "/v1/images", headers=owner.headers, json={"sourceUrl": source.url("/img.jpg")}
        )
        assert r.status_code == 201, r.text
        made.append(r.json()["imageId"])
        # a duplicate stores nothing and tells nothing
        r = upload(client, owner, data=data, allowDuplicate="false")
        assert r.status_code == 200 and r.json()["duplicate"] is True, r.text
        work(live)  # runs the delivery jobs (and the processing ones)
        got = [json.loads(r.body) for r in receiver.requests]
        assert sorted(e["data"]["imageId"] for e in got) == sorted(made)
        assert {e["kind"] for e in got} == {"image.uploaded"}
