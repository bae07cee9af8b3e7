"""Latency to accept a large image: direct multipart vs presigned PUT + finalize."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx

from bench.service import ServiceError, expect
from bench.stats import Summary

FILENAME = "bench.jpg"


@dataclass
class PathResult:
    """Samples (ms) for one way of uploading, with per-step samples when it has steps."""

    total_ms: list[float] = field(default_factory=list)
    steps_ms: dict[str, list[float]] = field(default_factory=dict)
    image_ids: list[str] = field(default_factory=list)

    def summary(self) -> Summary:
        return Summary.of(self.total_ms)

    def as_json(self, size: int) -> dict[str, object]:
        summary = self.summary()
        return {
            **summary.as_json(),
            "mb_per_s_at_p50": round(size / 1e6 / (summary.p50 / 1e3), 1),
            "samples_ms": [round(v, 2) for v in self.total_ms],
            "steps": {
                name: {**Summary.of(values).as_json(), "samples_ms": [round(v, 2) for v in values]}
                for name, values in self.steps_ms.items()
            },
        }


def multipart_envelope(
    filename: str = FILENAME, content_type: str = "image/jpeg"
) -> tuple[bytes, bytes, str]:
    """What goes before and after the file's bytes in a multipart/form-data body
    with one `file` part, and the body's Content-Type."""
    boundary = f"imghost-bench-{secrets.token_hex(12)}"
    # The runs upload the same bytes again and again: each must be stored anew
    # (a duplicate is answered 200 with the first image, nothing stored).
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="allowDuplicate"\r\n\r\ntrue\r\n'
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head, tail, f"multipart/form-data; boundary={boundary}"


def multipart_body(data: bytes, filename: str = FILENAME) -> tuple[bytes, str]:
    """A ready-made multipart/form-data body with one `file` part.

    Built once, so the timed loop measures the server, not the client's encoder.
    """
    head, tail, content_type = multipart_envelope(filename)
    return head + data + tail, content_type


def upload_direct(
    client: httpx.Client,
    body: bytes | Iterator[bytes],
    content_type: str,
    length: int | None = None,
) -> str:
    """POST /v1/images; an iterator ``body`` is streamed with ``length`` as its
    Content-Length (not chunked)."""
    headers = {"Content-Type": content_type}
    if length is not None:
        headers["Content-Length"] = str(length)
    response = client.post("/v1/images", content=body, headers=headers)
    image_id: str = expect(response, 201, "direct upload").json()["imageId"]
    return image_id


def upload_presigned(client: httpx.Client, data: bytes, steps: dict[str, float]) -> str:
    """POST /v1/uploads, PUT the bytes to the presigned URL, POST /v1/images {uploadId}."""
    t0 = time.perf_counter()
    created = expect(
        client.post(
            "/v1/uploads",
            json={"filename": FILENAME, "size": len(data), "contentType": "image/jpeg"},
        ),
        201,
        "create upload",
    ).json()
    if created.get("method") != "PUT":
        raise ServiceError(f"create upload: expected method PUT, got {created.get('method')!r}")
    t1 = time.perf_counter()
    # The presigned URL carries its own credentials: no Authorization header.
    put = client.build_request("PUT", created["presignedUrl"], content=data)
    put.headers.pop("Authorization", None)
    expect(client.send(put), 200, "PUT to presigned URL")
    t2 = time.perf_counter()
    finalized = client.post(
        "/v1/images", json={"uploadId": created["uploadId"], "allowDuplicate": True}
    )
    image_id: str = expect(finalized, 201, "finalize upload").json()["imageId"]
    t3 = time.perf_counter()
    steps["create"] = (t1 - t0) * 1e3
    steps["put"] = (t2 - t1) * 1e3
    steps["finalize"] = (t3 - t2) * 1e3
    return image_id


def measure_direct(client: httpx.Client, data: bytes, runs: int, warmup: int) -> PathResult:
    """``warmup`` untimed uploads, then ``runs`` timed ones, one after another."""
    body, content_type = multipart_body(data)
    result = PathResult()
    for index in range(warmup + runs):
        start = time.perf_counter()
        image_id = upload_direct(client, body, content_type)
        elapsed = (time.perf_counter() - start) * 1e3
        if index >= warmup:
            result.total_ms.append(elapsed)
            result.image_ids.append(image_id)
    return result


def measure_presigned(client: httpx.Client, data: bytes, runs: int, warmup: int) -> PathResult:
    """Like :func:`measure_direct`, timing the whole create → PUT → finalize sequence."""
    result = PathResult(steps_ms={"create": [], "put": [], "finalize": []})
    for index in range(warmup + runs):
        steps: dict[str, float] = {}
        start = time.perf_counter()
        image_id = upload_presigned(client, data, steps)
        elapsed = (time.perf_counter() - start) * 1e3
        if index >= warmup:
            result.total_ms.append(elapsed)
            result.image_ids.append(image_id)
            for name, value in steps.items():
                result.steps_ms[name].append(value)
    return result
