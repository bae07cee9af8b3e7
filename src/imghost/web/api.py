"""Serves the single-page web UI at / (plain HTML + fetch, no build step).

The page's script is a file of its own (``/app.js``) and its one style block
is allowed by hash, so the Content-Security-Policy allows no inline script:
markup that got injected into the page could not run. Framing is refused
(clickjacking) and no Referer leaves the page.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

router = APIRouter(include_in_schema=False)

_STATIC = Path(__file__).parent / "static"


def _sha256(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


@lru_cache(maxsize=1)
def _index() -> tuple[str, str]:
    """The page and its Content-Security-Policy."""
    html = (_STATIC / "index.html").read_text(encoding="utf-8")
    assert "<script>" not in html, "inline script: the CSP would block it"
    styles = " ".join(_sha256(m) for m in re.findall(r"<style>(.*?)</style>", html, re.S))
    policy = (
        "default-src 'self'; img-src 'self' blob: data:; "
        f"style-src {styles}; script-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
    return html, policy


@lru_cache(maxsize=1)
def _script() -> bytes:
    return (_STATIC / "app.js").read_bytes()


@router.get("/", response_class=HTMLResponse)
async def index() -> HTMLResponse:
    html, policy = _index()
    return HTMLResponse(
        html,
        headers={
            "Cache-Control": "no-cache",
            "Content-Security-Policy": policy,
            "Referrer-Policy": "no-referrer",
        },
    )


@router.get("/app.js")
async def script() -> Response:
    return Response(
        _script(),
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "no-cache"},
    )
