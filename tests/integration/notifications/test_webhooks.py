"""Webhooks against a real HTTP receiver on loopback: signatures, retries, the log, SSRF."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import httpx
import pytest

from imghost.notifications.signing import verify
from tests.conftest import LiveServer
from tests.factories import UserHandle, assert_problem, make_user, upload_ok
from tests.integration.notifications.conftest import RETRY_BASE
from tests.integration.notifications.helpers import share_image, wait_until
from tests.integration.notifications.receivers import WebhookReceiver


@pytest.fixture
def receiver() -> Any:
    with WebhookReceiver() as r:
        yield r


def create_hook(client: httpx.Client, user: UserHandle, url: str, **body: Any) -> dict[str, Any]:
    r = client.post("/v1/webhooks", json={"url": url, **body}, headers=user.headers)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def deliveries(client: httpx.Client, user: UserHandle, hook_id: str) -> list[dict[str, Any]]:
    r = client.get(f"/v1/webhooks/{hook_id}/deliveries", headers=user.headers)
    assert r.status_code == 200, r.text
    out: list[dict[str, Any]] = r.json()["deliveries"]
    return out


def settled(client: httpx.Client, user: UserHandle, hook_id: str) -> list[dict[str, Any]]:
    return wait_until(  # type: ignore[no-any-return]
        lambda: [d for d in deliveries(client, user, hook_id) if d["status"] != "pending"],
        what="a settled delivery",
    )


def test_retries_with_backoff_until_accepted(
    client: httpx.Client, receiver: WebhookReceiver
) -> None:
    receiver.script = [500, "drop", 200]  # a 5xx, a dropped connection, then success
    owner, friend = make_user(client), make_user(client)
    hook = create_hook(client, friend, receiver.url, description="my bot")
    assert hook["secret"].startswith("whsec_") and hook["kinds"] == ["*"]
    assert hook["active"] is True and hook["description"] == "my bot"
    image = upload_ok(client, owner, processed=False, title="Harbour")
    share_image(client, owner, image["imageId"], friend.user_id)

    requests = receiver.wait_for(3)
    assert [r.answered for r in requests] == [500, "drop", 200]
    # Exponential backoff: ~0.5 s, then ~1 s (each jittered by at most 10 %).
    gaps = [b.at - a.at for a, b in itertools.pairwise(requests)]
    assert gaps[0] >= RETRY_BASE * 0.9 and gaps[1] >= 2 * RETRY_BASE * 0.9, gaps

    note = client.get("/v1/notifications", headers=friend.headers).json()["notifications"][0]
    for attempt, request in enumerate(requests, start=1):
        assert request.path == "/hook"
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["Imghost-Event"] == "share.image"
        assert request.headers["Imghost-Attempt"] == str(attempt)
        assert request.headers["Host"] == f"127.0.0.1:{receiver.port}"
        assert verify(hook["secret"], request.body, request.headers["Imghost-Signature"])
        assert not verify("whsec_wrong", request.body, request.headers["Imghost-Signature"])
        payload = json.loads(request.body)
        assert payload["id"] == note["notificationId"]  # the same id every attempt
        assert payload["kind"] == "share.image"
        assert payload["createdAt"].endswith("Z")
        assert payload["data"]["imageId"] == image["imageId"]
    assert len({r.headers["Imghost-Delivery"] for r in requests}) == 1

    [delivery] = settled(client, friend, hook["webhookId"])
    assert delivery["status"] == "succeeded" and delivery["attemptCount"] == 3
    assert delivery["notificationId"] == note["notificationId"]
    assert delivery["kind"] == "share.image" and delivery["nextAttemptAt"] is None
    assert delivery["lastStatusCode"] == 200 and delivery["lastError"] is None
    log = delivery["attempts"]
    assert [a["attempt"] for a in log] == [1, 2, 3]
    assert [a["statusCode"] for a in log] == [500, None, 200]
    assert [a["succeeded"] for a in log] == [False, False, True]
    assert "500" in log[0]["error"] and log[1]["error"] and log[2]["error"] is None
    assert all(a["durationMs"] >= 0 for a in log)
    # Nothing more is sent after success.
    assert len(receiver.requests) == 3

    # The secret is shown only once.
    listed = client.get("/v1/webhooks", headers=friend.headers).json()["webhooks"]
    assert [h["webhookId"] for h in listed] == [hook["webhookId"]]
    assert "secret" not in listed[0]
    one = client.get(f"/v1/webhooks/{hook['webhookId']}", headers=friend.headers).json()
    assert "secret" not in one


def test_gives_up_after_max_attempts_and_does_not_follow_redirects(
    settings_factory: Any, receiver: WebhookReceiver
) -> None:
    settings = settings_factory(
        webhook_allow_private=True, webhook_retry_base=0.2, webhook_max_attempts=3
    )
    receiver.script = [302, 503, 404]
    with LiveServer(settings) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        owner, friend = make_user(client), make_user(client)
        hook = create_hook(client, friend, receiver.url)
        image = upload_ok(client, owner, processed=False)
        share_image(client, owner, image["imageId"], friend.user_id)
        [delivery] = settled(client, friend, hook["webhookId"])
    assert delivery["status"] == "failed" and delivery["attemptCount"] == 3
    assert delivery["finishedAt"] and delivery["nextAttemptAt"] is None
    assert [a["statusCode"] for a in delivery["attempts"]] == [302, 503, 404]
    assert "redirects are not followed" in delivery["attempts"][0]["error"]
    # The redirect's Location was never requested.
    assert [r.path for r in receiver.requests] == ["/hook"] * 3


def test_pending_delivery_shows_the_next_attempt(
    client: httpx.Client, receiver: WebhookReceiver
) -> None:
    receiver.script = [500] * 20
    owner, friend = make_user(client), make_user(client)
    hook = create_hook(client, friend, receiver.url)
    image = upload_ok(client, owner, processed=False)
    share_image(client, owner, image["imageId"], friend.user_id)
    receiver.wait_for(1)
    [delivery] = wait_until(
        lambda: [d for d in deliveries(client, friend, hook["webhookId"]) if d["attempts"]],
        what="a first attempt in the log",
    )
    assert delivery["status"] == "pending" and delivery["nextAttemptAt"] is not None
    assert delivery["lastStatusCode"] == 500, delivery
    # Deleting the webhook stops the retries and its log goes with it.
    r = client.delete(f"/v1/webhooks/{hook['webhookId']}", headers=friend.headers)
    assert r.status_code == 204
    count = len(receiver.requests)
    r = client.get(f"/v1/webhooks/{hook['webhookId']}/deliveries", headers=friend.headers)
    assert_problem(r, 404, "not_found")
    time.sleep(4 * RETRY_BASE + 1.5)
    assert len(receiver.requests) <= count + 1  # at most one attempt already in flight


def test_subscriptions_and_deactivation(client: httpx.Client, receiver: WebhookReceiver) -> None:
    owner, friend = make_user(client), make_user(client)
    albums_only = create_hook(client, friend, receiver.url + "?albums", kinds=["share.album"])
    everything = create_hook(client, friend, receiver.url + "?all", kinds=["share.*"])
    paused = create_hook(client, friend, receiver.url + "?paused")
    r = client.patch(
        f"/v1/webhooks/{paused['webhookId']}", json={"active": False}, headers=friend.headers
    )
    assert r.status_code == 200 and r.json()["active"] is False
    image = upload_ok(client, owner, processed=False)
    share_image(client, owner, image["imageId"], friend.user_id)
    r = client.post("/v1/albums", json={"title": "Trip"}, headers=owner.headers)
    album_id = r.json()["albumId"]
    r = client.put(
        f"/v1/albums/{album_id}/collaborators/{friend.user_id}",
        json={"permission": "view"},
        headers=owner.headers,
    )
    assert r.status_code == 200
    requests = receiver.wait_for(3)
    got = sorted((r.path, r.headers["Imghost-Event"]) for r in requests)
    assert got == [
        ("/hook?albums", "share.album"),
        ("/hook?all", "share.album"),
        ("/hook?all", "share.image"),
    ]
    assert deliveries(client, friend, paused["webhookId"]) == []
    assert len(deliveries(client, friend, albums_only["webhookId"])) == 1
    assert len(deliveries(client, friend, everything["webhookId"])) == 2
    # Someone else's webhooks are not found.
    r = client.get(f"/v1/webhooks/{everything['webhookId']}", headers=owner.headers)
    assert_problem(r, 404, "not_found")
    r = client.delete(f"/v1/webhooks/{everything['webhookId']}", headers=owner.headers)
    assert_problem(r, 404, "not_found")


REFUSED = [
    ("http://127.0.0.1:9/hook", "webhook_address_not_allowed"),
    ("http://localhost:9/hook", "webhook_address_not_allowed"),
    ("http://[::1]/hook", "webhook_address_not_allowed"),
    ("http://169.254.169.254/latest/meta-data", "webhook_address_not_allowed"),
    ("http://10.1.2.3/hook", "webhook_address_not_allowed"),
    ("http://[::ffff:192.168.0.1]/hook", "webhook_address_not_allowed"),
    ("http://0.0.0.0/hook", "webhook_address_not_allowed"),
    ("http://192.0.2.1/hook", "webhook_address_not_allowed"),  # TEST-NET-1: reserved
    ("http://100.64.0.1/hook", "webhook_address_not_allowed"),  # carrier-grade NAT
    ("ftp://example.com/hook", "invalid_webhook_url"),
    ("file:///etc/passwd", "invalid_webhook_url"),
    ("http://user:pw@example.com/hook", "invalid_webhook_url"),
    ("not a url", "invalid_webhook_url"),
    ("http://no-such-host.invalid/hook", "invalid_webhook_url"),
]


def test_ssrf_refusals(settings_factory: Any) -> None:
    with (
        LiveServer(settings_factory()) as live,  # IMGHOST_WEBHOOK_ALLOW_PRIVATE unset
        httpx.Client(base_url=live.url, timeout=60) as client,
    ):
        user = make_user(client)
        for url, code in REFUSED:
            r = client.post("/v1/webhooks", json={"url": url}, headers=user.headers)
            assert_problem(r, 422, code)
        assert client.get("/v1/webhooks", headers=user.headers).json() == {"webhooks": []}
        # A public address is fine (nothing is sent to it here: no notification).
        hook = create_hook(client, user, "https://93.184.215.14/hook")
        listed = client.get("/v1/webhooks", headers=user.headers).json()["webhooks"]
        assert [h["webhookId"] for h in listed] == [hook["webhookId"]]


def test_bad_requests(client: httpx.Client) -> None:
    user = make_user(client)
    r = client.post(
        "/v1/webhooks",
        json={"url": "http://127.0.0.1:9/", "kinds": ["Share!"]},
        headers=user.headers,
    )
    assert_problem(r, 422, "invalid_event_kind")
    r = client.post(
        "/v1/webhooks", json={"url": "http://127.0.0.1:9/", "kinds": []}, headers=user.headers
    )
    assert_problem(r, 422, "validation_error")
    assert_problem(
        client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/"}), 401, "unauthorized"
    )
    for _ in range(10):
        create_hook(client, user, "http://127.0.0.1:9/")
    r = client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/"}, headers=user.headers)
    assert_problem(r, 409, "too_many_webhooks")
    r = client.get("/v1/webhooks/whk_missing/deliveries", headers=user.headers)
    assert_problem(r, 404, "not_found")
