"""Allow-list entries are host names or `*.domain` wildcards, stored in one form;
a Referer matches by its host."""

from __future__ import annotations

import pytest

from imghost.hotlink.hosts import AllowList, BadHost, normalize, normalize_all, referer_host


@pytest.mark.parametrize(
    ("entry", "stored"),
    [
        ("Example.COM", "example.com"),
        ("  blog.example.com. ", "blog.example.com"),
        ("*.Example.com", "*.example.com"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("localhost", "localhost"),
        ("192.168.1.10", "192.168.1.10"),
    ],
)
def test_entries_are_normalised(entry: str, stored: str) -> None:
    assert normalize(entry) == stored


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ("", "empty"),
        ("https://example.com/page", "not a URL"),
        ("example.com:8080", "not a URL"),
        ("exa mple.com", "not a URL"),
        ("*.com", "top-level domain"),
        ("a.*.example.com", "not a valid host name"),
        ("-bad.example.com", "not a valid host name"),
        ("bad_label.example.com", "not a valid host name"),
        ("x" * 64 + ".example.com", "not a valid host name"),
    ],
)
def test_what_is_not_a_host_is_refused(entry: str, why: str) -> None:
    with pytest.raises(BadHost, match=why):
        normalize(entry)


def test_duplicates_go_in_the_order_given() -> None:
    assert normalize_all(["B.example", "a.example", "b.example."]) == ["b.example", "a.example"]


@pytest.mark.parametrize(
    ("referer", "host"),
    [
        ("https://Blog.Example.com/post?x=1", "blog.example.com"),
        ("http://example.com.:8080/", "example.com"),
        ("android-app://com.example.app/", "com.example.app"),
        ("", None),
        (None, None),
        ("about:blank", None),
        ("not a url", None),
        ("http://[::1", None),
    ],
)
def test_the_host_a_referer_names(referer: str | None, host: str | None) -> None:
    assert referer_host(referer) == host


def test_matching_exact_hosts_and_wildcards() -> None:
    allowed = AllowList.of(["example.com", "*.cdn.example.org"])
    assert allowed.allows("example.com")
    assert not allowed.allows("www.example.com")  # an exact entry is that host only
    assert allowed.allows("a.cdn.example.org") and allowed.allows("a.b.cdn.example.org")
    assert not allowed.allows("cdn.example.org")  # a wildcard is its subdomains only
    assert not allowed.allows("evilcdn.example.org")
    assert not allowed.allows("cdn.example.org.evil.net")
