"""A small tus 1.0 client (core protocol and the creation extension) over sync httpx.

Written here rather than taken from tuspy so the CLI has no extra runtime
dependency, streams each chunk from the file instead of holding it, and
retries exactly as `imghost upload --help` says: network errors, 5xx, 409
(offset mismatch), 423 (upload locked) and 429 back off exponentially, then
the offset is re-read with HEAD before sending more. The attempt budget is
per stretch without progress, so a long upload over a flaky link is not
abandoned after a handful of blips spread over an hour.
"""

from __future__ import annotations

import base64
import random
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO, NoReturn
from urllib.parse import urljoin

import httpx

TUS_VERSION = "1.0.0"
# Progress is reported, and Ctrl-C noticed, at this granularity within a PATCH.
PIECE = 64 * 1024
TRANSIENT_STATUSES = frozenset({409, 423, 429})

Progress = Callable[[int], None]


class UploadFailed(Exception):
    """This file did not upload: the server refused it, or the retries ran out."""

    def __init__(self, code: str, detail: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.status = status


class UploadGone(Exception):
    """The upload URL is unknown, expired or terminated (404/410)."""


class Cancelled(Exception):
    """The run is being interrupted; what the server has is kept for next time."""


class _Transient(Exception):
    def __init__(self, code: str, detail: str, retry_after: float | None = None) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter; ``attempts`` tries per stretch without progress."""

    attempts: int = 6
    base: float = 0.5
    cap: float = 20.0

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        backoff = min(self.cap, self.base * 2.0 ** (failures - 1))
        # Jitter spreads out the parallel uploads that failed together (a server restart).
        backoff *= 0.5 + random.random() / 2
        if retry_after is not None:
            backoff = max(backoff, min(retry_after, self.cap))
        return backoff


@dataclass(frozen=True)
class Finished:
    url: str
    # The server's offset when an upload from an earlier run was picked up again.
    resumed_at: int | None


def problem_of(response: httpx.Response) -> tuple[str, str]:
    """The problem+json ``code`` and ``detail``, or stand-ins when the body is not one."""
    code, detail = f"http_{response.status_code}", response.reason_phrase or "error"
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return code, text[:200] if text else detail
    if isinstance(body, dict):
        if isinstance(body.get("code"), str):
            code = body["code"]
        if isinstance(body.get("detail"), str):
            detail = body["detail"]
        elif isinstance(body.get("title"), str):
            detail = body["title"]
    return code, detail


def encode_metadata(metadata: Mapping[str, str]) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in metadata.items())


def _retry_after(response: httpx.Response) -> float | None:
    # Only the delay-seconds form: a server under load sends that, and dates need clocks to agree.
    value = response.headers.get("Retry-After", "")
    return float(value) if value.isdigit() else None


def _refused(response: httpx.Response) -> NoReturn:
    code, detail = problem_of(response)
    raise UploadFailed(code, detail, response.status_code)


def _offset_header(response: httpx.Response) -> int:
    value = response.headers.get("Upload-Offset", "")
    if not value.isdigit():
        raise UploadFailed(
            "bad_response",
            f"The server answered {response.status_code} without a valid Upload-Offset.",
            response.status_code,
        )
    return int(value)


class TusClient:
    def __init__(
        self,
        http: httpx.Client,
        token: str,
        *,
        chunk_size: int = 8 * 1024 * 1024,
        retry: RetryPolicy | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.http = http
        self.token = token
        self.chunk_size = chunk_size
        self.retry = retry or RetryPolicy()
        self.cancel = cancel or threading.Event()

    # -- one request ---------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None = None,
        content: Iterator[bytes] | None = None,
        *,
        tus: bool = True,
    ) -> httpx.Response:
        if self.cancel.is_set():
            raise Cancelled
        all_headers = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        if tus:
            all_headers["Tus-Resumable"] = TUS_VERSION
        try:
            response = self.http.request(method, url, headers=all_headers, content=content)
        except httpx.TransportError as exc:  # connect, timeout, reset, protocol
            raise _Transient("network_error", str(exc) or type(exc).__name__) from exc
        if response.status_code >= 500 or response.status_code in TRANSIENT_STATUSES:
            code, detail = problem_of(response)
            raise _Transient(code, detail, _retry_after(response))
        return response

    def _back_off(self, failures: int, exc: _Transient) -> None:
        if failures >= self.retry.attempts:
            raise UploadFailed(exc.code, f"{exc.detail} (gave up after {failures} attempts)")
        if self.cancel.wait(self.retry.delay(failures, exc.retry_after)):
            raise Cancelled

    # -- tus operations ------------------------------------------------------

    def create(self, endpoint: str, length: int, metadata: Mapping[str, str]) -> str:
        headers = {"Upload-Length": str(length)}
        if metadata:
            headers["Upload-Metadata"] = encode_metadata(metadata)
        response = self._send("POST", endpoint, headers)
        if response.status_code != 201:
            _refused(response)
        location = response.headers.get("Location")
        if not location:
            raise UploadFailed("bad_response", "The server created an upload without a Location.")
        return urljoin(endpoint, str(location))

    def offset(self, url: str) -> int:
        response = self._send("HEAD", url)
        if response.status_code in (404, 410):
            raise UploadGone(url)
        if response.status_code != 200:
            _refused(response)
        return _offset_header(response)

    def patch(
        self, url: str, file: BinaryIO, offset: int, length: int, on_progress: Progress
    ) -> int:
        """Send ``length`` bytes of ``file`` from ``offset``; the server's new offset."""
        file.seek(offset)

        def body() -> Iterator[bytes]:
            sent = 0
            while sent < length:
                if self.cancel.is_set():
                    raise Cancelled
                piece = file.read(min(PIECE, length - sent))
                if not piece:
                    raise UploadFailed("file_changed", "The file got shorter while uploading.")
                sent += len(piece)
                yield piece
                on_progress(offset + sent)

        headers = {
            "Content-Type": "application/offset+octet-stream",
            "Upload-Offset": str(offset),
            # An explicit length makes httpx stream the generator without chunked encoding.
            "Content-Length": str(length),
        }
        response = self._send("PATCH", url, headers, body())
        if response.status_code in (404, 410):
            raise UploadGone(url)
        if response.status_code not in (200, 204):
            _refused(response)
        new_offset = _offset_header(response)
        if not offset < new_offset <= offset + length:
            raise _Transient("offset_mismatch", f"The server went from {offset} to {new_offset}.")
        return new_offset

    def upload(
        self,
        endpoint: str,
        file: BinaryIO,
        size: int,
        *,
        url: str | None,
        metadata: Mapping[str, str],
        on_created: Callable[[str], None],
        on_progress: Progress,
    ) -> Finished:
        """Send all of ``file``: resume ``url``, or create an upload at ``endpoint``.

        Raises UploadGone when ``url`` no longer exists (the caller decides
        whether to start over), UploadFailed and Cancelled.
        """
        if size == 0:
            raise UploadFailed("empty_file", "The file is empty.")
        resuming = url is not None
        resumed_at: int | None = None
        failures = 0
        known: int | None = None  # the server's offset, once asked (or just created)
        while True:
            try:
                if url is None:
                    url = self.create(endpoint, size, metadata)
                    on_created(url)
                    known = 0
                elif known is None:
                    known = self.offset(url)
                    if resuming and resumed_at is None:
                        resumed_at = known
                    if known > size:
                        raise UploadFailed(
                            "offset_mismatch",
                            f"The server has {known} bytes of a {size} byte file.",
                        )
                on_progress(known)
                while known < size:
                    known = self.patch(
                        url, file, known, min(self.chunk_size, size - known), on_progress
                    )
                    failures = 0  # progress: a fresh budget for the next stretch
                return Finished(url, resumed_at)
            except _Transient as exc:
                failures += 1
                self._back_off(failures, exc)
                known = None  # re-sync with HEAD before sending more

    def get_json(self, url: str) -> dict[str, Any]:
        """GET an API resource with the same retries; 4xx raise UploadFailed."""
        failures = 0
        while True:
            try:
                response = self._send("GET", url, tus=False)
                break
            except _Transient as exc:
                failures += 1
                self._back_off(failures, exc)
        if response.status_code != 200:
            _refused(response)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise UploadFailed("bad_response", f"{url} did not answer with a JSON object.")
        return body
