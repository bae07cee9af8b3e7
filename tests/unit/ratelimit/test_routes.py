"""Which requests rate limits apply to."""

from __future__ import annotations

import pytest

from imghost.ratelimit.routes import classify, is_upload


@pytest.mark.parametrize(
    ("method", "path", "counts", "body"),
    [
        ("POST", "/v1/images", "uploads", "multipart"),
        ("POST", "/v1/uploads", "uploads", "declared"),
        ("POST", "/v1/tus", "uploads", "stream"),
        ("POST", "/v1/tus/", "uploads", "stream"),
        ("PATCH", "/v1/tus/upl_abc", None, "stream"),
        ("GET", "/images/img_1", "views", "none"),
        ("HEAD", "/images/img_1", "views", "none"),
        ("GET", "/images/img_1/thumb.webp", "views", "none"),
        ("GET", "/images/img_1/t/w_10.webp", "views", "none"),
        ("GET", "/images/img_1/metadata", "views", "none"),
        ("GET", "/v1/images/img_1/file", "views", "none"),
    ],
)
def test_limited_routes(method: str, path: str, counts: str | None, body: str) -> None:
    route = classify(method, path)
    assert route is not None
    assert (route.counts, route.body) == (counts, body)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/images"),  # the listing
        ("GET", "/v1/images"),
        ("GET", "/v1/images/img_1"),
        ("PATCH", "/v1/images/img_1"),
        ("PUT", "/v1/uploads/upl_1/content"),  # counted when the upload was created
        ("HEAD", "/v1/tus/upl_1"),
        ("DELETE", "/v1/tus/upl_1"),
        ("OPTIONS", "/v1/tus/"),
        ("POST", "/v1/auth/login"),
        ("POST", "/v1/images/img_1/links"),
        ("GET", "/healthz"),
    ],
)
def test_other_routes_are_not_limited(method: str, path: str) -> None:
    assert classify(method, path) is None


@pytest.mark.parametrize(
    ("method", "path", "upload"),
    [
        ("POST", "/v1/images", True),
        ("POST", "/v1/images/", True),
        ("POST", "/v1/tus", True),
        ("POST", "/v1/tus/", True),
        ("PATCH", "/v1/tus/upl_abc", True),
        ("PUT", "/v1/uploads/upl_1/content", True),
        ("POST", "/v1/uploads", False),  # JSON: the general body limit
        ("PATCH", "/v1/images/img_1", False),
        ("POST", "/v1/auth/signup", False),
        ("GET", "/images/img_1", False),
        ("PUT", "/v1/uploads/upl_1", False),
    ],
)
def test_upload_routes_keep_their_own_body_limits(method: str, path: str, upload: bool) -> None:
    # One table for rate limits and body limits (bodies.py): a new upload
    # route cannot be added to one and forgotten in the other.
    assert is_upload(method, path) is upload
