"""Signing in on the web page to an account with two-factor sign-in: the page
asks for the code after the password, and a wrong code is said, not swallowed."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page

from tests.conftest import LiveServer
from tests.e2e.browser.conftest import BrowserThread
from tests.factories import PASSWORD, make_user
from tests.helpers.mfa import enrol


# The client's side of the flow; the server's runs on both backends in
# tests/integration/auth/test_mfa.py.
@pytest.mark.parametrize("backend", ["sqlite-local"])
def test_web_login_asks_for_the_second_factor(live: LiveServer, chromium: BrowserThread) -> None:
    with httpx.Client(base_url=live.url, timeout=60) as client:
        enrolled = enrol(client, make_user(client))
    email = enrolled.user.email
    errors: list[str] = []
    seen: dict[str, str | None] = {}

    def drive(page: Page) -> None:
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{live.url}/")
        assert page.is_hidden("#mfa-code")
        page.fill("#login [name=email]", email)
        page.fill("#login [name=password]", PASSWORD)
        page.click("#login button")
        page.wait_for_selector("#mfa-code", state="visible")
        seen["asked"] = page.text_content("#msg")
        page.fill("#mfa-code", "zzzz-zzzz-zzzz")
        page.click("#login button")
        page.wait_for_selector("#msg.err")
        seen["wrong"] = page.text_content("#msg")
        page.fill("#mfa-code", enrolled.code(1))
        page.click("#login button")
        page.wait_for_selector("#app", state="visible")
        seen["who"] = page.text_content("#who")

    chromium.run(drive, timeout=60)
    assert not errors, errors
    assert seen["asked"] == "Enter the code from your authenticator app (or a recovery code)."
    assert seen["wrong"] is not None and seen["wrong"].startswith("The code is not right")
    assert seen["who"] == enrolled.user.username
