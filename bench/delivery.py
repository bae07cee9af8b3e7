"""GET throughput of /images/{id} under wrk, next to nginx serving the same bytes."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from bench import wrk
from bench.backends import BUCKET, PREFIX, Backend
from bench.checks import Checks
from bench.fixtures import JpegFixture
from bench.service import Service, ServiceError, expect
from bench.uploads import multipart_body
from imghost.settings import Settings
from imghost.testing.edge import start_edge
from imghost.testing.servers import start_nginx

NGINX_SERVER_BLOCK = "location / { root {root}; }"


@dataclass(frozen=True)
class Target:
    """One thing wrk hammered, and its figures."""

    label: str
    url: str
    result: wrk.WrkResult

    def as_json(self) -> dict[str, object]:
        return {"label": self.label, "url": self.url, **self.result.as_json()}


@dataclass(frozen=True)
class GetResult:
    image_id: str
    imghost: Target
    nginx: Target
    s3_direct: Target | None  # the S3 server itself, when imghost proxies from S3
    preset: Target | None = None  # imghost: the stored thumb.webp of the same image
    edge: Target | None = None  # the nginx edge in front of imghost (cache hits)
    edge_hour: Target | None = None  # the same, keeping entries an hour (as with purging)

    @property
    def ratio(self) -> float:
        return self.imghost.result.requests_per_s / self.nginx.result.requests_per_s

    def as_json(self) -> dict[str, object]:
        return {
            "image_id": self.image_id,
            "imghost": self.imghost.as_json(),
            "nginx": self.nginx.as_json(),
            "s3_direct": self.s3_direct.as_json() if self.s3_direct else None,
            "preset": self.preset.as_json() if self.preset else None,
            "edge": self.edge.as_json() if self.edge else None,
            "edge_hour": self.edge_hour.as_json() if self.edge_hour else None,
            "ratio_imghost_to_nginx_rps": round(self.ratio, 4),
            "ratio_edge_to_nginx_rps": (
                round(self.edge.result.requests_per_s / self.nginx.result.requests_per_s, 4)
                if self.edge
                else None
            ),
        }


def _hammer(label: str, url: str, config: wrk.WrkConfig, checks: Checks) -> Target:
    result = wrk.run(url, config)
    checks.add(
        f"wrk {label}: all responses 2xx/3xx, no socket errors",
        result.errors == 0,
        f"{result.requests} requests, {result.non_2xx_3xx} non-2xx/3xx, "
        f"{sum(result.socket_errors.values())} socket errors",
    )
    return Target(label, url, result)


def upload(client: httpx.Client, image: JpegFixture) -> str:
    """Upload the image wrk will fetch, as public; it is served once the worker processed it."""
    body, content_type = multipart_body(image.data, "small.jpg")
    created = expect(
        client.post("/v1/images", content=body, headers={"Content-Type": content_type}),
        201,
        "upload the small image",
    ).json()
    if created.get("visibility") != "public":
        raise ServiceError(f"the small image should be public, it is {created.get('visibility')!r}")
    image_id: str = created["imageId"]
    return image_id


def measure(
    service: Service,
    backend: Backend,
    image_id: str,
    image: JpegFixture,
    config: wrk.WrkConfig,
    checks: Checks,
    nginx_workers: int,
) -> GetResult:
    """Load ``/images/{image_id}`` (already uploaded with :func:`upload` and processed)."""
    url = f"{service.base_url}/images/{image_id}"
    checks.get_returns("GET /images/{id} (imghost) returns the exact bytes", url, image.data)
    imghost = _hammer("imghost", url, config, checks)
    preset = _hammer("imghost thumb.webp", f"{url}/thumb.webp", config, checks)

    settings = Settings.from_env(service.env)
    edge = _through_edge(settings, service, image_id, image, config, checks, nginx_workers)
    # What a purge-based edge would do instead (entries kept an hour, purged on
    # change): the price of the 1 s lifetime is the difference.
    edge_hour = _through_edge(
        settings, service, image_id, image, config, checks, nginx_workers, keep=HOUR
    )

    nginx = start_nginx(NGINX_SERVER_BLOCK, workers=nginx_workers)
    try:
        (nginx.root / "images").mkdir()
        (nginx.root / "images" / f"{image_id}.jpg").write_bytes(image.data)
        nginx_url = f"http://127.0.0.1:{nginx.port}/images/{image_id}.jpg"
        checks.get_returns(
            "GET (nginx, same bytes from disk) returns the exact bytes", nginx_url, image.data
        )
        limit = _hammer("nginx", nginx_url, config, checks)
    finally:
        nginx.stop()

    s3_direct = None
    if backend.s3 is not None:
        s3_url = _presigned_get(backend, image_id, image.data)
        # imghost stores objects with their Content-Type, so S3 serves image/jpeg too.
        checks.get_returns(
            "presigned S3 GET of the stored blob returns the exact bytes", s3_url, image.data
        )
        s3_direct = _hammer("s3 (moto) direct", s3_url, config, checks)
    return GetResult(image_id, imghost, limit, s3_direct, preset, edge, edge_hour)


# Replaces the origin's lifetime with an hour, as an edge that is purged on change
# would keep entries (bench only: the shipped edge keeps IMGHOST_EDGE_MAX_AGE).
HOUR = (
    "proxy_ignore_headers X-Accel-Expires Cache-Control Expires;\n"
    "        proxy_cache_valid 200 1h;\n"
    "        proxy_cache imghost_edge;"
)


def _through_edge(
    settings: Settings,
    service: Service,
    image_id: str,
    image: JpegFixture,
    config: wrk.WrkConfig,
    checks: Checks,
    nginx_workers: int,
    keep: str | None = None,
) -> Target:
    label = "edge (1 h lifetime)" if keep else "edge (nginx cache in front of imghost)"
    server = start_edge(settings, [service.port], nginx_workers, replace=keep)
    try:
        url = f"{server.url}/images/{image_id}"
        checks.get_returns(f"GET through the {label} returns the exact bytes", url, image.data)
        return _hammer(label, url, config, checks)
    finally:
        server.stop()


def _presigned_get(backend: Backend, image_id: str, data: bytes) -> str:
    """A presigned GET straight to the S3 server for the blob imghost proxies.

    The object is found by listing the bucket, not by rebuilding imghost's key
    layout, so the benchmark does not depend on it: among the objects whose key
    holds the image id (the original, and the presets the worker rendered), the
    one with the uploaded bytes.
    """
    assert backend.s3 is not None
    client = backend.s3.client()
    keys = []
    candidates = []
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=BUCKET, Prefix=f"{PREFIX}/"
    ):
        for obj in page.get("Contents", []):
            if image_id in obj["Key"]:
                candidates.append(obj["Key"])
                if obj["Size"] == len(data):
                    body = client.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()
                    if body == data:
                        keys.append(obj["Key"])
    if len(keys) != 1:
        raise ServiceError(
            f"expected one S3 object for {image_id} with the uploaded bytes, found {keys} "
            f"among {candidates}"
        )
    url: str = client.generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": keys[0]}, ExpiresIn=3600
    )
    return url
