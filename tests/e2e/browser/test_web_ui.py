"""The web UI (served by imghost at /) uploads through tus in a real browser.

A user signs up and logs in through the page's forms, chooses two images (a
noise JPEG of a few chunks and a small PNG with a non-ASCII name) and uploads
them. `page.route` breaks one PATCH of the JPEG at the network level: the page
says it is retrying, asks HEAD where the upload stands and goes on from there.
A second test reloads the page while the connection is down and chooses the
same file again: the upload URL kept in localStorage makes it resume instead of
starting anew.

The page is same-origin with the API here (no CORS). Its chunk size is made
small with `window.IMGHOST_CHUNK` in an init script, which also records what
the page showed (notes, progress values) with a MutationObserver, so short-lived
states such as the retry note are not missed. Browser calls run in the browser
thread (`chromium.run`); the test thread checks the stored bytes with httpx.
"""

from __future__ import annotations

import hashlib
import io
import random
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from playwright.sync_api import ConsoleMessage, Page, Route

from tests.conftest import LiveServer
from tests.e2e.browser.conftest import BrowserThread
from tests.factories import PASSWORD, UserHandle, wait_processed

CHUNK = 512 * 1024
SIDE = 1800  # a 1800x1800 noise JPEG at quality 90 is about 2.9 MB: six chunks
BREAK_AT = 3  # the big file's third PATCH (at offset 2 * CHUNK) fails
RETRY_NOTE = "connection lost, retrying…"

# Runs before the page's own script: the chunk size, and a recorder of what the page shows.
INIT_SCRIPT = f"window.IMGHOST_CHUNK = {CHUNK};" + (
    """
const seen = window.__seen = { notes: [], overall: [], bars: {} };
const push = (list, v) => { if (list[list.length - 1] !== v) list.push(v); };
new MutationObserver(() => {
  document.querySelectorAll("#uploads li").forEach((li) => {
    const note = li.querySelector("span").textContent;
    if (note && !seen.notes.includes(note)) seen.notes.push(note);
    push(seen.bars[li.firstChild.textContent.trim()] ||= [], li.querySelector("progress").value);
  });
  const bar = document.querySelector("#progress");
  if (bar && !bar.hidden) push(seen.overall, bar.value);
}).observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
"""
)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("web-ui")
    pixels = random.Random(20240612).randbytes(SIDE * SIDE * 3)
    buf = io.BytesIO()
    Image.frombytes("RGB", (SIDE, SIDE), pixels).save(buf, format="JPEG", quality=90)
    big = folder / "noise.jpg"
    big.write_bytes(buf.getvalue())
    assert big.stat().st_size > (BREAK_AT + 1) * CHUNK
    buf = io.BytesIO()
    Image.linear_gradient("L").resize((320, 200)).convert("RGB").save(buf, format="PNG")
    small = folder / "café ☕.png"  # Upload-Metadata must carry UTF-8
    small.write_bytes(buf.getvalue())
    assert small.stat().st_size < CHUNK
    return [big, small]


@dataclass
class Run:
    """What the page did: tus requests it sent, what it showed, and its final state."""

    requests: list[tuple[str, str, int | None]] = field(default_factory=list)  # method, id, offset
    broken: int | None = None  # index in `requests` of the PATCH that was aborted
    seen: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    gallery: list[str] = field(default_factory=list)
    message: str = ""
    token: str = ""
    errors: list[str] = field(default_factory=list)

    def record(self, route: Route) -> tuple[str, str, int | None]:
        request = route.request
        offset = request.headers.get("upload-offset")
        entry = (
            request.method,
            request.url.split("/v1/tus/", 1)[1],
            int(offset) if offset is not None else None,
        )
        self.requests.append(entry)
        return entry

    def after_break(self) -> list[tuple[str, int | None]]:
        """The requests to the broken upload after the aborted PATCH."""
        assert self.broken is not None, self.requests
        upload = self.requests[self.broken][1]
        return [(m, o) for m, u, o in self.requests[self.broken + 1 :] if u == upload]


def _bad(msg: ConsoleMessage) -> bool:
    """A console error, other than chromium's report of the connection the test broke."""
    return msg.type == "error" and "ERR_CONNECTION_RESET" not in msg.text


def _open(page: Page, run: Run, url: str) -> None:
    page.on("pageerror", lambda exc: run.errors.append(f"page error: {exc}"))
    page.on("console", lambda msg: run.errors.append(msg.text) if _bad(msg) else None)
    page.add_init_script(INIT_SCRIPT)
    page.goto(url)


def _sign_up_and_log_in(page: Page, run: Run) -> None:
    name = f"user{uuid.uuid4().hex[:8]}"
    email = f"{name}@example.com"
    page.fill("#signup [name=username]", name)
    page.fill("#signup [name=email]", email)
    page.fill("#signup [name=password]", PASSWORD)
    page.click("#signup button")
    page.wait_for_selector("#app", state="visible")
    assert page.text_content("#who") == name
    page.click("#logout")
    page.wait_for_selector("#auth", state="visible")
    page.fill("#login [name=email]", email)
    page.fill("#login [name=password]", PASSWORD)
    page.click("#login button")
    page.wait_for_selector("#app", state="visible")
    run.token = page.evaluate("sessionStorage.getItem('imghost.token')")


def _choose_and_upload(page: Page, files: list[Path]) -> None:
    page.set_input_files("#upload [name=file]", files)
    page.fill("#upload [name=title]", "from the web UI")
    page.fill("#upload [name=tags]", "tus, browser")
    page.click("#upload button")


def _finish(page: Page, run: Run, count: int) -> None:
    """Wait for the uploads to end and the gallery to show them; record the page's state."""
    page.wait_for_function(
        "() => / of \\d+ uploaded/.test(document.querySelector('#msg').textContent)"
    )
    run.message = page.text_content("#msg") or ""
    run.rows = page.evaluate(
        """() => Array.from(document.querySelectorAll('#uploads li'), (li) => ({
            name: li.firstChild.textContent.trim(), imageId: li.dataset.imageId || null,
            note: li.querySelector('span').textContent,
            value: li.querySelector('progress').value, max: li.querySelector('progress').max}))"""
    )
    ids = [row["imageId"] for row in run.rows if row["imageId"]]
    page.wait_for_function(
        "ids => ids.every((id) => document.querySelector(`#gallery [data-image-id='${id}']`))",
        arg=ids,
        timeout=30_000,
    )
    run.gallery = page.evaluate(
        "Array.from(document.querySelectorAll('#gallery figure'), (f) => f.dataset.imageId)"
    )
    run.seen = page.evaluate("window.__seen")
    assert len(run.rows) == count


def _assert_uploaded(live: LiveServer, run: Run, files: list[Path]) -> None:
    """Every row is done with 100%, the gallery shows it, the stored bytes are the file's."""
    assert not run.errors, run.errors
    assert run.message == f"{len(files)} of {len(files)} uploaded.", (run.message, run.rows)
    by_name = {row["name"]: row for row in run.rows}
    assert set(by_name) == {f.name for f in files}, run.rows
    with httpx.Client(base_url=live.url, timeout=60) as client:
        auth = {"Authorization": f"Bearer {run.token}"}
        me = client.get("/v1/users/me", headers=auth).json()
        user = UserHandle(me["userId"], me["username"], "", PASSWORD, run.token, "")
        for file in files:
            row = by_name[file.name]
            image_id = row["imageId"]
            assert image_id and row["note"] == f"done · {image_id}", row
            assert row["value"] == row["max"] == file.stat().st_size, row
            assert image_id in run.gallery, (image_id, run.gallery)
            image = wait_processed(client, user, image_id)
            assert image["status"] == "ready", image
            assert image["title"] == "from the web UI"
            assert sorted(image["tags"]) == ["browser", "tus"]
            r = client.get(f"/v1/images/{image_id}/metadata", headers=auth)
            assert r.status_code == 200 and r.json()["file"]["filename"] == file.name, r.text
            r = client.get(f"/images/{image_id}", headers=auth)
            assert r.status_code == 200, r.text
            expected = hashlib.sha256(file.read_bytes()).hexdigest()
            assert hashlib.sha256(r.content).hexdigest() == expected, file.name


def _assert_progress(run: Run, files: list[Path]) -> None:
    """The overall bar and each file's bar moved through values below 100% and reached it."""
    overall = run.seen["overall"]
    assert any(0 < v < 1 for v in overall) and overall[-1] == 1, overall
    big = files[0]
    bar = run.seen["bars"][big.name]
    assert any(0 < v < big.stat().st_size for v in bar), bar
    assert bar[-1] == big.stat().st_size, bar


# The page is the same on every backend: its tests run on the embedded default
# (`make run`); the browser's tus on PostgreSQL + S3 is in test_tus_browser.py.
@pytest.mark.parametrize("backend", ["sqlite-local"])
def test_web_ui_uploads_and_resumes_after_network_break(
    live: LiveServer, chromium: BrowserThread, images: list[Path]
) -> None:
    run = Run()
    patches: dict[str, int] = {}

    def handler(route: Route) -> None:
        method, upload, _ = run.record(route)
        if method == "PATCH":
            patches[upload] = patches.get(upload, 0) + 1
            if patches[upload] == BREAK_AT and run.broken is None:
                run.broken = len(run.requests) - 1
                route.abort("connectionreset")
                return
        route.continue_()

    def drive(page: Page) -> None:
        page.route(lambda url: "/v1/tus/" in url, handler)
        _open(page, run, f"{live.url}/")
        _sign_up_and_log_in(page, run)
        _choose_and_upload(page, images)
        _finish(page, run, len(images))

    chromium.run(drive, timeout=120)

    # Each file was created once (POST), two uploads ran side by side.
    assert [m for m, _, _ in run.requests].count("POST") == 2, run.requests
    assert run.broken is not None and run.requests[run.broken][2] == (BREAK_AT - 1) * CHUNK
    # After the break: the note, then HEAD (where the upload stands) and PATCH from there.
    assert RETRY_NOTE in run.seen["notes"], run.seen["notes"]
    after = run.after_break()
    assert after[:2] == [("HEAD", None), ("PATCH", (BREAK_AT - 1) * CHUNK)], run.requests
    assert all(m == "PATCH" for m, _ in after[1:]), run.requests
    _assert_progress(run, images)
    _assert_uploaded(live, run, images)


@pytest.mark.parametrize("backend", ["sqlite-local"])
def test_web_ui_resumes_after_reload(
    live: LiveServer, chromium: BrowserThread, images: list[Path]
) -> None:
    """The connection stays down, the user reloads and chooses the file again: it resumes."""
    big = images[:1]
    run = Run()
    down = {"on": False}
    marks: dict[str, Any] = {}

    def handler(route: Route) -> None:
        method, _, _ = run.record(route)
        if method == "PATCH" and [m for m, _, _ in run.requests].count("PATCH") == BREAK_AT:
            down["on"] = True
        if down["on"] and method == "PATCH":
            route.abort("connectionreset")
        else:
            route.continue_()

    def drive(page: Page) -> None:
        page.route(lambda url: "/v1/tus/" in url, handler)
        _open(page, run, f"{live.url}/")
        _sign_up_and_log_in(page, run)
        _choose_and_upload(page, big)
        page.wait_for_function(
            "note => window.__seen.notes.includes(note)", arg=RETRY_NOTE, timeout=30_000
        )
        marks["stored"] = page.evaluate("Object.keys(localStorage)")
        page.reload()
        down["on"] = False
        marks["reloaded"] = len(run.requests)
        _choose_and_upload(page, big)
        _finish(page, run, 1)
        marks["left"] = page.evaluate("Object.keys(localStorage)")

    chromium.run(drive, timeout=120)

    assert [k for k in marks["stored"] if k.startswith("imghost.tus")], marks["stored"]
    # One upload only: after the reload the page asked HEAD and went on from its offset.
    assert [m for m, _, _ in run.requests].count("POST") == 1, run.requests
    after = [(m, o) for m, _, o in run.requests[marks["reloaded"] :]]
    assert after[:2] == [("HEAD", None), ("PATCH", (BREAK_AT - 1) * CHUNK)], run.requests
    assert all(m == "PATCH" for m, _ in after[1:]), run.requests
    assert "resuming…" in run.seen["notes"], run.seen["notes"]
    assert not [k for k in marks["left"] if k.startswith("imghost.tus")], marks["left"]
    _assert_uploaded(live, run, big)


@pytest.mark.parametrize("backend", ["sqlite-local"])
def test_web_ui_shows_the_servers_detail_for_a_rejected_file(
    live: LiveServer, chromium: BrowserThread, tmp_path: Path
) -> None:
    """A 4xx problem (here: not an image) stops that file and shows its `detail`."""
    bogus = tmp_path / "not-an-image.png"
    bogus.write_bytes(b"this is plain text, not a PNG\n" * 100)
    run = Run()
    marks: dict[str, Any] = {}

    def handler(route: Route) -> None:
        run.record(route)
        route.continue_()

    def drive(page: Page) -> None:
        page.route(lambda url: "/v1/tus/" in url, handler)
        _open(page, run, f"{live.url}/")
        _sign_up_and_log_in(page, run)
        _choose_and_upload(page, [bogus])
        page.wait_for_function(
            "() => / of \\d+ uploaded/.test(document.querySelector('#msg').textContent)"
        )
        run.message = page.text_content("#msg") or ""
        marks["notes"] = page.evaluate(
            "Array.from(document.querySelectorAll('#uploads li span'), (s) => s.textContent)"
        )
        marks["gallery"] = page.evaluate("document.querySelectorAll('#gallery figure').length")

    chromium.run(drive, timeout=60)
    assert run.message == "0 of 1 uploaded.", run.message
    assert [m for m, _, _ in run.requests] == ["POST", "PATCH"], run.requests
    with httpx.Client(base_url=live.url, timeout=60) as client:
        upload = run.requests[1][1]
        r = client.get(f"/v1/uploads/{upload}", headers={"Authorization": f"Bearer {run.token}"})
        assert r.json()["status"] == "failed", r.text
        assert marks["notes"] == [r.json()["error"]["detail"]], (marks["notes"], r.text)
    assert marks["gallery"] == 0
