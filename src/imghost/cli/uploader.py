"""One file to one image: pick which files, resume from the state file, finish via the API.

The tus protocol lives in :mod:`imghost.cli.tus_client`; this module adds what
is imghost's: the state file that carries upload URLs across runs, and the
finishing step, where ``GET /v1/uploads/{id}`` says whether the bytes became
an image (and which), or why not.
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imghost.cli.tus_client import (
    Cancelled,
    Progress,
    TusClient,
    UploadFailed,
    UploadGone,
)
from imghost.cli.upload_state import UploadState, state_key

# Picked from folders. TIFF and BMP are picked too, then skipped with a line
# that says so (REFUSED_EXTENSIONS): skipping them unseen would lose files silently.
IMAGE_EXTENSIONS = frozenset(
    ["jpg", "jpeg", "png", "gif", "webp", "heic", "heif", "avif", "tif", "tiff", "bmp"]
)
# The server always refuses these formats (415): sending them only wastes the bytes.
REFUSED_EXTENSIONS = frozenset(["tif", "tiff", "bmp"])


def refused_by_server(path: Path) -> bool:
    return path.suffix.lower().lstrip(".") in REFUSED_EXTENSIONS


# The server validates the last byte synchronously; a short poll covers a server that
# reports the upload before the image row is visible (another API process, a replica).
STATUS_POLLS = 20
STATUS_POLL_DELAY = 0.25


def collect_files(paths: Iterable[Path]) -> list[Path]:
    """Files named explicitly, whatever they are (the server judges them); folders
    recursively, keeping image extensions and skipping hidden files and folders."""
    found: list[Path] = []
    seen: set[Path] = set()

    def add(path: Path) -> None:
        real = path.resolve()
        if real not in seen:
            seen.add(real)
            found.append(path)

    for path in paths:
        if not path.is_dir():
            add(path)
            continue
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                candidate = Path(root) / name
                if (
                    not name.startswith(".")
                    and candidate.suffix.lower().lstrip(".") in IMAGE_EXTENSIONS
                    and candidate.is_file()
                ):
                    add(candidate)
    return found


@dataclass(frozen=True)
class ImageFields:
    """What every uploaded image gets, sent as tus Upload-Metadata."""

    title: str | None = None
    description: str | None = None
    tags: list[str] = field(default_factory=list)
    visibility: str | None = None

    def metadata(self, path: Path) -> dict[str, str]:
        filetype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        meta = {"filename": path.name, "filetype": filetype}
        if self.title:
            meta["title"] = self.title
        if self.description:
            meta["description"] = self.description
        if self.tags:
            meta["tags"] = ",".join(self.tags)
        if self.visibility:
            meta["visibility"] = self.visibility
        return meta


@dataclass
class Outcome:
    path: Path
    url: str | None = None
    image_id: str | None = None
    code: str | None = None
    detail: str | None = None
    resumed_at: int | None = None
    #: The server had these bytes already: ``url`` is that image, nothing was stored.
    duplicate: bool = False

    @property
    def ok(self) -> bool:
        return self.url is not None


class Uploader:
    def __init__(
        self, tus: TusClient, server: str, state: UploadState, fields: ImageFields
    ) -> None:
        self.tus = tus
        self.server = server
        self.endpoint = f"{server}/v1/tus/"
        self.state = state
        self.fields = fields

    def upload(self, path: Path, on_progress: Progress) -> Outcome:
        """Upload ``path``; failures become an Outcome, only Cancelled propagates."""
        try:
            return self._upload(path, on_progress)
        except Cancelled:
            raise
        except UploadFailed as exc:
            return Outcome(path, code=exc.code, detail=exc.detail)
        except OSError as exc:
            return Outcome(path, code="read_error", detail=str(exc))
        except Exception as exc:  # one file's surprise must not sink the other uploads
            return Outcome(path, code="client_error", detail=f"{type(exc).__name__}: {exc}")

    def _upload(self, path: Path, on_progress: Progress) -> Outcome:
        key = state_key(self.server, path)
        size = path.stat().st_size
        url = self.state.get(key)

        def created(new: str) -> None:
            nonlocal url
            url = new
            self.state.put(key, new, path)

        with path.open("rb") as file:
            # At most two fresh starts: the stored URL was gone, then the new one vanished too.
            for _ in range(3):
                try:
                    done = self.tus.upload(
                        self.endpoint,
                        file,
                        size,
                        url=url,
                        metadata=self.fields.metadata(path),
                        on_created=created,
                        on_progress=on_progress,
                    )
                    break
                except UploadGone:
                    # A run killed after the last byte but before forgetting the URL (or
                    # a last answer lost): the server already judged the file, and the
                    # server answers 410 for a refused one. Report that, don't resend.
                    status = self._status(url) if url else None
                    if url and status and status.get("status") in ("completed", "failed"):
                        return self._finished(path, key, url, status, None)
                    self.state.drop(key)
                    url = None
                except UploadFailed as exc:
                    if url and exc.status and 400 <= exc.status < 500:
                        self._forget_if_settled(key, url)
                    raise
            else:
                raise UploadFailed("upload_gone", "The server lost the upload twice in a row.")
        return self._finished(path, key, done.url, None, done.resumed_at)

    def _finished(
        self,
        path: Path,
        key: str,
        url: str,
        status: dict[str, Any] | None,
        resumed_at: int | None,
    ) -> Outcome:
        for _ in range(STATUS_POLLS):
            status = status or self.tus.get_json(self._status_url(url))
            if status.get("status") in ("completed", "failed"):
                break
            if self.tus.cancel.wait(STATUS_POLL_DELAY):
                raise Cancelled
            status = None
        else:
            raise UploadFailed(
                "not_completed", "All bytes were sent but the server never finished the upload."
            )
        self.state.drop(key)  # finished either way: nothing left to resume
        if status.get("status") == "failed":
            raw = status.get("error")
            error: dict[str, Any] = raw if isinstance(raw, dict) else {}
            raise UploadFailed(
                str(error.get("code") or "upload_failed"),
                str(error.get("detail") or "The server did not accept the file."),
            )
        image_id = str(status.get("imageId") or "")
        if not image_id:
            raise UploadFailed("bad_response", "The upload completed without an imageId.")
        return Outcome(
            path,
            self._image_url(image_id),
            image_id,
            resumed_at=resumed_at,
            duplicate=bool(status.get("duplicate")),
        )

    def _image_url(self, image_id: str) -> str:
        fallback = f"{self.server}/images/{image_id}"
        try:
            image = self.tus.get_json(f"{self.server}/v1/images/{image_id}")
        except UploadFailed:
            return fallback  # the image exists; only its description could not be fetched
        url = image.get("url")
        return url if isinstance(url, str) and url else fallback

    def _status_url(self, upload_url: str) -> str:
        upload_id = upload_url.rstrip("/").rsplit("/", 1)[-1]
        return f"{self.server}/v1/uploads/{upload_id}"

    def _status(self, upload_url: str) -> dict[str, Any] | None:
        try:
            return self.tus.get_json(self._status_url(upload_url))
        except UploadFailed:
            return None

    def _forget_if_settled(self, key: str, upload_url: str) -> None:
        # A refused last chunk (415, 422) ends the upload for good; a refused HEAD (401:
        # a wrong token) does not, and the URL stays for a run with the right one.
        status = self._status(upload_url)
        if status and status.get("status") in ("completed", "failed"):
            self.state.drop(key)
