"""tus-js-client in a real browser (chromium) uploads to imghost's tus endpoint.

The page is on another origin than the API, so the browser's CORS checks apply:
preflights, and the tus response headers (Location, Upload-Offset) must be
exposed or tus-js-client cannot read them. The file is a noise JPEG of a few
MB sent in 1 MiB chunks; the original bytes served afterwards must be the same.

The network-break test intercepts the tus requests with `page.route`, which
makes Playwright answer CORS preflights itself; the clean upload test does not
intercept, so there the server's own preflight answers are what the browser uses.

Browser calls run in the browser thread (`chromium.run`); the test thread
talks to the API with httpx and makes the assertions.
"""

from __future__ import annotations

import hashlib
import io
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Page, Response, Route

from tests.conftest import LiveServer
from tests.e2e.browser.conftest import BrowserThread
from tests.factories import UserHandle, make_user, wait_processed

CHUNK = 1024 * 1024
SIDE = 2200  # a 2200x2200 noise JPEG at quality 95 is about 5.6 MB: six chunks
RETRY_DELAYS = [0, 500, 1000, 2000]


@pytest.fixture(scope="module")
def noise_jpeg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pixels = random.Random(20240611).randbytes(SIDE * SIDE * 3)
    buf = io.BytesIO()
    Image.frombytes("RGB", (SIDE, SIDE), pixels).save(buf, format="JPEG", quality=95)
    path = tmp_path_factory.mktemp("browser") / "noise.jpg"
    path.write_bytes(buf.getvalue())
    assert path.stat().st_size > 5 * CHUNK
    return path


@dataclass
class Answer:
    method: str
    status: int
    headers: dict[str, str]


@dataclass
class Run:
    """What one upload in the page did: the page's state and the tus traffic."""

    state: dict[str, Any] = field(default_factory=dict)
    # Requests seen by the route handler (break test only): method, Upload-Offset.
    requests: list[tuple[str, int | None]] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)  # the server's answers, in order
    console: list[str] = field(default_factory=list)  # page errors and console errors
    broken_at: int | None = None  # index in `requests` of the PATCH that failed
    lost_status: int | None = None  # server's answer to that PATCH, when it got it
    lost_offset: int | None = None


def _offset(headers: dict[str, str]) -> int | None:
    value = headers.get("upload-offset")
    return int(value) if value is not None else None


def _upload_in_page(
    page: Page,
    run: Run,
    *,
    page_origin: str,
    file: Path,
    endpoint: str,
    token: str,
    title: str,
) -> None:
    """Open the page, choose the file, upload it with tus-js-client; fill `run`."""
    responses: list[Response] = []
    page.on("response", lambda r: responses.append(r) if "/v1/tus/" in r.url else None)
    page.on("pageerror", lambda exc: run.console.append(f"page error: {exc}"))
    page.on("console", lambda msg: run.console.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{page_origin}/page.html")
    assert page.evaluate("tus.isSupported") is True
    page.set_input_files("#file", file)
    page.evaluate(
        "opts => startUpload(opts)",
        {
            "endpoint": endpoint,
            "token": token,
            "chunkSize": CHUNK,
            "retryDelays": RETRY_DELAYS,
            "metadata": {"filename": file.name, "filetype": "image/jpeg", "title": title},
        },
    )
    page.wait_for_function("state.done || state.error !== null", timeout=120_000)
    run.state = page.evaluate("state")
    run.answers = [Answer(r.request.method, r.status, r.all_headers()) for r in responses]


def _assert_done(run: Run) -> None:
    assert run.state["error"] is None, (run.state["error"], run.console)
    assert run.state["done"] is True


def _assert_progress(state: dict[str, Any], total: int) -> None:
    progress = state["progress"]
    assert len(progress) >= 2, progress
    assert all(t == total for _, t in progress), progress
    sent = [s for s, _ in progress]
    assert sent == sorted(sent), f"progress went backwards: {sent}"
    assert sent[-1] == total
    accepted = [a for _, a, _ in state["chunks"]]
    assert accepted == sorted(accepted) and accepted[-1] == total, state["chunks"]


def _assert_stored(
    client: httpx.Client, user: UserHandle, state: dict[str, Any], data: bytes, title: str
) -> None:
    """The upload resource is completed and the image's original bytes are the file's."""
    upload_id = state["url"].rstrip("/").rsplit("/", 1)[-1]
    deadline = time.monotonic() + 60
    while True:
        r = client.get(f"/v1/uploads/{upload_id}", headers=user.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        if body["status"] in ("completed", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert body["status"] == "completed", body
    assert body["uploadId"] == upload_id
    assert body["offset"] == body["length"] == len(data), body
    image = wait_processed(client, user, body["imageId"])
    assert image["status"] == "ready", image
    assert image["title"] == title
    assert image["size"] == len(data)
    r = client.get(f"/images/{body['imageId']}", headers=user.headers)
    assert r.status_code == 200, r.text
    assert hashlib.sha256(r.content).hexdigest() == hashlib.sha256(data).hexdigest()


# A browser's side of tus does not depend on the backend; the server's does, and
# runs on both in tests/integration/tus. The cross-origin upload runs on the
# embedded default, the breaks on PostgreSQL + S3, whose tus parts (S3 multipart)
# are the harder side of a resume.
@pytest.mark.parametrize("backend", ["sqlite-local"])
def test_tus_js_client_uploads_cross_origin(
    live: LiveServer, chromium: BrowserThread, page_origin: str, noise_jpeg: Path
) -> None:
    data = noise_jpeg.read_bytes()
    title = "browser upload"
    run = Run()
    with httpx.Client(base_url=live.url, timeout=60) as client:
        user = make_user(client)
        chromium.run(
            lambda page: _upload_in_page(
                page,
                run,
                page_origin=page_origin,
                file=noise_jpeg,
                endpoint=f"{live.url}/v1/tus/",
                token=user.access_token,
                title=title,
            )
        )
        _assert_done(run)
        _assert_progress(run.state, len(data))
        assert len(run.state["chunks"]) == -(-len(data) // CHUNK)

        # Every answer the browser read carried CORS headers for the page's origin.
        methods = [a.method for a in run.answers]
        assert methods == ["POST"] + ["PATCH"] * len(run.state["chunks"]), methods
        for answer in run.answers:
            allowed = answer.headers.get("access-control-allow-origin")
            assert allowed in ("*", page_origin), answer
        assert run.answers[0].status == 201 and "location" in run.answers[0].headers

        _assert_stored(client, user, run.state, data, title)


@pytest.mark.parametrize("backend", ["postgres-s3"])
@pytest.mark.parametrize("lost", ["request", "response"])
def test_tus_js_client_resumes_after_network_break(
    live: LiveServer, chromium: BrowserThread, page_origin: str, noise_jpeg: Path, lost: str
) -> None:
    """One PATCH fails at the network level; tus-js-client asks HEAD and resumes.

    `request`: the third PATCH never reaches the server (the server has 2 MiB).
    `response`: the third PATCH is stored but its answer is lost (3 MiB), so the
    client only learns the offset from HEAD.
    """
    data = noise_jpeg.read_bytes()
    title = f"resumed after lost {lost}"
    run = Run()

    def handler(route: Route) -> None:
        request = route.request
        run.requests.append((request.method, _offset(request.headers)))
        patches = sum(1 for method, _ in run.requests if method == "PATCH")
        if request.method != "PATCH" or patches != 3:
            route.continue_()
            return
        run.broken_at = len(run.requests) - 1
        try:
            if lost == "response":
                response = route.fetch()
                run.lost_status, run.lost_offset = response.status, _offset(response.headers)
        finally:
            route.abort("connectionreset")

    def drive(page: Page) -> None:
        page.route(lambda url: "/v1/tus/" in url, handler)
        _upload_in_page(
            page,
            run,
            page_origin=page_origin,
            file=noise_jpeg,
            endpoint=f"{live.url}/v1/tus/",
            token=user.access_token,
            title=title,
        )

    with httpx.Client(base_url=live.url, timeout=60) as client:
        user = make_user(client)
        chromium.run(drive)
        _assert_done(run)

        at = run.broken_at
        assert at is not None, run.requests
        assert run.requests[at] == ("PATCH", 2 * CHUNK), run.requests
        expected = 3 * CHUNK if lost == "response" else 2 * CHUNK
        if lost == "response":
            assert (run.lost_status, run.lost_offset) == (204, expected)

        # After the break: HEAD (the server's offset), then PATCH from there on.
        after = run.requests[at + 1 :]
        assert after[0] == ("HEAD", None), run.requests
        assert after[1] == ("PATCH", expected), run.requests
        assert [m for m, _ in after[1:]] == ["PATCH"] * (len(after) - 1), run.requests
        head = next(a for a in run.answers if a.method == "HEAD")
        assert head.status == 200 and _offset(head.headers) == expected, head

        # Progress never went back: the refused chunk's bytes were never counted.
        _assert_progress(run.state, len(data))
        accepted = [a for _, a, _ in run.state["chunks"]]
        # The lost answer's chunk is the one offset the client never saw confirmed.
        assert (3 * CHUNK in accepted) == (lost == "request"), accepted

        _assert_stored(client, user, run.state, data, title)
