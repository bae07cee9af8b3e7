"""An in-memory tus server behind httpx.MockTransport, with faults on demand.

Only for the client's own logic (offset re-sync, retries, resume, gone
uploads); the real server is exercised in tests/e2e/test_cli_upload.py.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

SERVER = "http://tus.test"
Fault = Callable[[httpx.Request], httpx.Response | None]


@dataclass
class FakeUpload:
    length: int
    metadata: dict[str, str]
    data: bytearray = field(default_factory=bytearray)
    status: str = "pending"
    image_id: str | None = None
    error: dict[str, str] | None = None
    gone: bool = False
    duplicate: bool = False


def problem(status: int, code: str, detail: str) -> httpx.Response:
    return httpx.Response(
        status,
        json={
            "type": "about:blank",
            "title": "x",
            "status": status,
            "code": code,
            "detail": detail,
        },
        headers={"Content-Type": "application/problem+json"},
    )


class FakeTus:
    def __init__(self) -> None:
        self.uploads: dict[str, FakeUpload] = {}
        self.log: list[tuple[str, str]] = []  # (method, path)
        self.faults: list[tuple[str, Fault]] = []  # (method, fault), used once each
        self.head_gone_when_done = False
        self._ids = itertools.count(1)
        self.transport = httpx.MockTransport(self.handle)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=self.transport)

    def fail_next(self, method: str, fault: Fault) -> None:
        self.faults.append((method, fault))

    def fail_with(self, method: str, status: int, code: str = "oops") -> None:
        self.fail_next(method, lambda _r: problem(status, code, f"scripted {status}"))

    def drop_connection(self, method: str) -> None:
        def fault(request: httpx.Request) -> httpx.Response | None:
            raise httpx.ReadError("connection reset by fake", request=request)

        self.fail_next(method, fault)

    def lose_response_after_storing(self) -> None:
        """The next PATCH is stored, then its response is lost on the way back."""

        def fault(request: httpx.Request) -> httpx.Response | None:
            self._patch(request)
            raise httpx.ReadError("response lost", request=request)

        self.fail_next("PATCH", fault)

    def count(self, method: str) -> int:
        return sum(1 for m, _ in self.log if m == method)

    # -- the server ------------------------------------------------------------

    # One fake server: a route table written as ifs, one short branch per route.
    def handle(self, request: httpx.Request) -> httpx.Response:  # noqa: C901
        request.read()
        self.log.append((request.method, request.url.path))
        for i, (method, fault) in enumerate(self.faults):
            if method == request.method:
                del self.faults[i]
                scripted = fault(request)
                if scripted is not None:
                    return scripted
                break
        path = request.url.path
        if path.startswith("/v1/tus/"):
            assert request.headers["Tus-Resumable"] == "1.0.0"
            assert request.headers["Authorization"] == "Bearer secret"
        if request.method == "POST" and path == "/v1/tus/":
            return self._create(request)
        if path.startswith("/v1/tus/"):
            upload_id = path.rsplit("/", 1)[-1]
            upload = self.uploads.get(upload_id)
            if upload is None:
                return problem(404, "not_found", "no such upload")
            if upload.gone or (self.head_gone_when_done and upload.status != "pending"):
                return problem(410, "gone", "upload expired")
            if request.method == "HEAD":
                return httpx.Response(
                    200,
                    headers={
                        "Upload-Offset": str(len(upload.data)),
                        "Upload-Length": str(upload.length),
                        "Cache-Control": "no-store",
                    },
                )
            if request.method == "PATCH":
                return self._patch(request)
        if path.startswith("/v1/uploads/"):
            upload = self.uploads.get(path.rsplit("/", 1)[-1])
            if upload is None:
                return problem(404, "not_found", "no such upload")
            body: dict[str, object] = {"status": upload.status, "offset": len(upload.data)}
            if upload.image_id:
                body["imageId"] = upload.image_id
            if upload.error:
                body["error"] = upload.error
            body["duplicate"] = upload.duplicate
            return httpx.Response(200, json=body)
        if path.startswith("/v1/images/"):
            image_id = path.rsplit("/", 1)[-1]
            return httpx.Response(200, json={"imageId": image_id, "url": f"{SERVER}/i/{image_id}"})
        return problem(404, "not_found", path)

    def _create(self, request: httpx.Request) -> httpx.Response:
        metadata = {}
        for pair in request.headers.get("Upload-Metadata", "").split(","):
            if pair:
                key, value = pair.split(" ")
                metadata[key] = base64.b64decode(value).decode()
        upload_id = f"upl_{next(self._ids)}"
        self.uploads[upload_id] = FakeUpload(int(request.headers["Upload-Length"]), metadata)
        return httpx.Response(
            201, headers={"Location": f"/v1/tus/{upload_id}", "Upload-Offset": "0"}
        )

    def _patch(self, request: httpx.Request) -> httpx.Response:
        upload = self.uploads[request.url.path.rsplit("/", 1)[-1]]
        assert request.headers["Content-Type"] == "application/offset+octet-stream"
        if int(request.headers["Upload-Offset"]) != len(upload.data):
            return problem(409, "offset_mismatch", "wrong offset")
        upload.data += request.content
        if len(upload.data) == upload.length:
            if upload.data.startswith(b"<html"):
                upload.status = "failed"
                upload.error = {"code": "unsupported_media_type", "detail": "not an image"}
                return problem(415, "unsupported_media_type", "not an image")
            upload.status = "completed"
            # Bytes an earlier upload brought: the server answers with that image.
            earlier = [u for u in self.uploads.values() if u is not upload and u.image_id]
            same = [u for u in earlier if u.data == upload.data and not u.duplicate]
            if same:
                upload.image_id, upload.duplicate = same[0].image_id, True
            else:
                upload.image_id = "img_" + request.url.path.rsplit("_", 1)[-1]
        return httpx.Response(204, headers={"Upload-Offset": str(len(upload.data))})
