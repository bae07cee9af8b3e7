"""Security headers on HTML pages, and nosniff on every answer (problem+json too)."""

from __future__ import annotations

import re

import httpx

from tests.factories import make_user


def _csp(r: httpx.Response) -> dict[str, str]:
    policy = r.headers["content-security-policy"]
    return {d.split()[0]: d.strip() for d in policy.split(";") if d.strip()}


def _page_guards(r: httpx.Response) -> None:
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-content-type-options"] == "nosniff"


def test_the_web_ui_runs_no_inline_script_and_cannot_be_framed(client: httpx.Client) -> None:
    r = client.get("/")
    _page_guards(r)
    csp = _csp(r)
    assert "'unsafe-inline'" not in csp["script-src"] and "'self'" in csp["script-src"]
    assert "'unsafe-inline'" not in csp.get("style-src", "")
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", r.text), "inline script left"
    assert not re.search(r"\son[a-z]+\s*=", r.text), "inline event handler left"
    for src in re.findall(r'<script[^>]*\bsrc="([^"]+)"', r.text):
        js = client.get(src)
        assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
        assert js.headers["x-content-type-options"] == "nosniff"


def test_share_page_and_api_docs_cannot_be_framed(client: httpx.Client) -> None:
    _page_guards(client.get("/s/lnk_doesnotexist"))
    docs = client.get("/docs")
    _page_guards(docs)
    assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]


def test_every_error_answer_is_nosniff(client: httpx.Client) -> None:
    user = make_user(client)
    answers = [
        client.get("/no/such/route"),  # the framework's 404
        client.get("/v1/images/img_doesnotexist", headers=user.headers),  # AppError
        client.get("/v1/users/me"),  # 401 from a dependency
        client.get("/images/a%00b"),  # middleware (RejectUnsafeTargets)
        client.delete("/healthz"),  # 405
        client.post("/v1/auth/login", content=b"{", headers={"Content-Type": "application/json"}),
    ]
    for r in answers:
        assert r.status_code >= 400, r.text
        assert r.headers["content-type"].startswith("application/problem+json"), r.headers
        assert r.headers.get("x-content-type-options") == "nosniff", (r.url, r.headers)
    assert client.get("/healthz").headers["x-content-type-options"] == "nosniff"
