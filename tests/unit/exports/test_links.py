"""Signed export download links: minted short-lived, never past the export, and
refused when changed or late."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest

from imghost.errors import AppError
from imghost.exports.links import ExportLinks
from imghost.signing import SIGNED_URL, SigningKeys, sign

NOW = dt.datetime(2030, 1, 1, 12, 0, 0, 500_000, tzinfo=dt.UTC)
LINKS = ExportLinks(SigningKeys.single("s" * 32), "https://img.example", 3600)


def _query(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}


def _refused(export_id: str, q: dict[str, str], now: dt.datetime) -> tuple[int, str]:
    with pytest.raises(AppError) as caught:
        LINKS.check(export_id, q.get("exp", ""), q.get("kid", ""), q.get("sig", ""), now)
    return caught.value.status, caught.value.code


def test_a_link_lasts_its_ttl_but_never_past_the_export() -> None:
    url, until = LINKS.mint("exp_a", NOW + dt.timedelta(days=7), NOW)
    path, q = _query(url)
    assert url.startswith("https://img.example/v1/exports/exp_a/download?")
    assert path == "/v1/exports/exp_a/download"
    assert until == NOW.replace(microsecond=0) + dt.timedelta(hours=1)
    LINKS.check("exp_a", q["exp"], q["kid"], q["sig"], NOW)
    # An export that ends sooner ends its link with it.
    ends = NOW + dt.timedelta(minutes=5)
    _, until = LINKS.mint("exp_a", ends, NOW)
    assert until == ends.replace(microsecond=0)


def test_a_changed_or_late_link_is_refused() -> None:
    url, until = LINKS.mint("exp_a", NOW + dt.timedelta(days=7), NOW)
    _, q = _query(url)
    assert _refused("exp_b", q, NOW) == (403, "invalid_download_link")
    later = str(int(q["exp"]) + 60)
    assert _refused("exp_a", {**q, "exp": later}, NOW) == (403, "invalid_download_link")
    assert _refused("exp_a", {**q, "exp": "0" + q["exp"]}, NOW) == (403, "invalid_download_link")
    assert _refused("exp_a", {**q, "exp": "soon"}, NOW) == (403, "invalid_download_link")
    assert _refused("exp_a", {**q, "sig": q["sig"][:-1] + "A"}, NOW) == (
        403,
        "invalid_download_link",
    )
    assert _refused("exp_a", {**q, "kid": "k9"}, NOW) == (403, "invalid_download_link")
    assert _refused("exp_a", {}, NOW) == (403, "invalid_download_link")
    # Another key (another install, a rotated secret) signed it.
    other = ExportLinks(SigningKeys.single("t" * 32), "https://img.example", 3600)
    _, theirs = _query(other.mint("exp_a", NOW + dt.timedelta(days=7), NOW)[0])
    assert _refused("exp_a", theirs, NOW) == (403, "invalid_download_link")
    # A signature for another purpose under the same key never passes.
    kid, sig = sign(LINKS.keys, SIGNED_URL, "exp_a", q["exp"])
    assert _refused("exp_a", {"exp": q["exp"], "kid": kid, "sig": sig}, NOW) == (
        403,
        "invalid_download_link",
    )
    # At its expiry, the link is over.
    assert _refused("exp_a", q, until) == (410, "download_link_expired")
    assert _refused("exp_a", q, until + dt.timedelta(days=1)) == (410, "download_link_expired")
