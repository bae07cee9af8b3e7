"""Fixtures for real-browser tests: Debian's chromium driven by Playwright.

The browser is /usr/bin/chromium (scripts/system-deps.sh installs it; never
`playwright install`), and tus-js-client comes from this directory's
node_modules (`make node-deps`, run by `make test`). When either is missing the
tests skip locally and fail under CI=true, like the other test services.

The test page is served by a tiny HTTP server on its own loopback port, so the
page's origin differs from the API's and every tus request is cross-origin.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.conftest import unavailable

HERE = Path(__file__).parent
CHROMIUM = Path("/usr/bin/chromium")
TUS_JS = HERE / "node_modules" / "tus-js-client" / "dist" / "tus.min.js"
T = TypeVar("T")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def page_origin() -> Iterator[str]:
    """Serve this directory (page.html, node_modules/…/tus.min.js) on loopback."""
    handler = partial(_QuietHandler, directory=str(HERE))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


class BrowserThread:
    """Playwright's sync API and chromium, confined to one thread of their own.

    The sync API keeps an asyncio loop marked running on the thread that uses
    it, and the test fixtures call asyncio.run() (PostgreSQL set-up and
    teardown), which refuses to nest: so every browser call runs here, and the
    test thread stays free of Playwright's loop.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="playwright")
        self._pw: Playwright | None = None
        self._browser: Browser | None = None

    def start(self) -> None:
        def launch() -> None:
            self._pw = sync_playwright().start()
            self._browser = self._pw.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
            )

        self._pool.submit(launch).result(120)

    def stop(self) -> None:
        def close() -> None:
            if self._browser is not None:
                self._browser.close()
            if self._pw is not None:
                self._pw.stop()

        try:
            self._pool.submit(close).result(60)
        finally:
            self._pool.shutdown()

    def run(self, fn: Callable[[Page], T], timeout: float = 240) -> T:
        """Call fn with a new page in a fresh context (own storage), in the browser thread."""

        def with_page() -> T:
            assert self._browser is not None
            context = self._browser.new_context()
            try:
                page = context.new_page()
                page.set_default_timeout(120_000)
                return fn(page)
            finally:
                context.close()

        return self._pool.submit(with_page).result(timeout)


@pytest.fixture(scope="session")
def chromium() -> Iterator[BrowserThread]:
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} not found; apt-get install chromium (scripts/system-deps.sh)")
    if not TUS_JS.exists():
        unavailable(f"{TUS_JS.relative_to(HERE.parents[2])} not found; run `make node-deps`")
    browser = BrowserThread()
    try:
        browser.start()
        yield browser
    finally:
        browser.stop()
