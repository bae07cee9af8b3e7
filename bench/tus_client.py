"""The tus section's clients: a tus upload, a streamed direct upload and a dd copy
of the same bytes, each timed from its first byte to its final answer.

The client never holds a file whole: bodies are generators reading 1 MiB at a
time, sent with their Content-Length (not chunked transfer encoding).
"""

from __future__ import annotations

import base64
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import uploads
from bench.service import ServiceError, expect

TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_OCTETS = "application/offset+octet-stream"
READ_BYTES = 1024 * 1024

#: ``source(start, length)`` yields the ``length`` bytes of the upload from ``start``.
Source = Callable[[int, int], Iterator[bytes]]


def file_source(path: Path) -> Source:
    def chunks(start: int, length: int) -> Iterator[bytes]:
        with open(path, "rb") as fh:
            fh.seek(start)
            left = length
            while left > 0:
                block = fh.read(min(READ_BYTES, left))
                if not block:
                    raise ServiceError(f"{path.name} ended {left} bytes early")
                left -= len(block)
                yield block

    return chunks


def noise_source(block: bytes) -> Source:
    """The same random block over and over: bytes that are no image."""

    def chunks(start: int, length: int) -> Iterator[bytes]:
        left = length
        while left > 0:
            piece = block[: min(len(block), left)]
            left -= len(piece)
            yield piece

    return chunks


@dataclass
class TusOutcome:
    upload_id: str
    seconds: float  # POST /v1/tus/ to the last PATCH's answer
    #: The last PATCH alone: its bytes, then sealing, assembling, validating and
    #: storing the whole upload as an image.
    last_patch_seconds: float
    patches: int
    #: The last PATCH's answer: 204 once the upload became an image; a problem
    #: (e.g. 415 for bytes that are no image) when validation refused it.
    final_status: int
    final_code: str | None


def tus_upload(
    client: httpx.Client,
    source: Source,
    length: int,
    chunk: int,
    filename: str,
    metadata: dict[str, str] | None = None,
) -> TusOutcome:
    """Create an upload, then PATCH ``chunk`` bytes at a time until all are sent.

    ``metadata`` adds Upload-Metadata pairs (e.g. ``allowDuplicate``) to the filename.
    """
    pairs = {"filename": filename, **(metadata or {})}
    encoded = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())
    start = time.perf_counter()
    created = expect(
        client.post(
            "/v1/tus/",
            headers={**TUS, "Upload-Length": str(length), "Upload-Metadata": encoded},
        ),
        201,
        "tus create",
    )
    location = created.headers["location"]
    offset = patches = 0
    while True:
        size = min(chunk, length - offset)
        sent = time.perf_counter()
        response = client.patch(
            location,
            headers={
                **TUS,
                "Content-Type": OFFSET_OCTETS,
                "Upload-Offset": str(offset),
                "Content-Length": str(size),
            },
            content=source(offset, size),
        )
        patches += 1
        if offset + size >= length:
            break
        expect(response, 204, f"tus PATCH at offset {offset}")
        offset = int(response.headers["upload-offset"])
    now = time.perf_counter()
    seconds, last_patch_seconds = now - start, now - sent
    code = None
    if response.status_code != 204:
        try:
            code = response.json().get("code")
        except ValueError:
            code = response.text[:200]
    return TusOutcome(
        upload_id=location.rstrip("/").rsplit("/", 1)[-1],
        seconds=seconds,
        last_patch_seconds=last_patch_seconds,
        patches=patches,
        final_status=response.status_code,
        final_code=code,
    )


def upload_status(client: httpx.Client, upload_id: str) -> dict[str, object]:
    response = expect(client.get(f"/v1/uploads/{upload_id}"), 200, f"upload {upload_id}")
    status: dict[str, object] = response.json()
    return status


def direct_upload(
    client: httpx.Client, path: Path, filename: str, content_type: str
) -> tuple[str, float]:
    """POST /v1/images, multipart streamed from ``path``: (image id, seconds)."""
    head, tail, multipart_type = uploads.multipart_envelope(filename, content_type)
    size = path.stat().st_size

    def body() -> Iterator[bytes]:
        yield head
        yield from file_source(path)(0, size)
        yield tail

    start = time.perf_counter()
    image_id = uploads.upload_direct(
        client, body(), multipart_type, length=len(head) + size + len(tail)
    )
    return image_id, time.perf_counter() - start


def dd_copy(source: Path, dest: Path) -> float:
    """Seconds for `dd bs=8M conv=fsync` to copy ``source`` to ``dest`` (then removed)."""
    start = time.perf_counter()
    subprocess.run(
        ["dd", f"if={source}", f"of={dest}", "bs=8M", "conv=fsync", "status=none"],
        check=True,
        capture_output=True,
    )
    seconds = time.perf_counter() - start
    dest.unlink()
    return seconds
