"""A streaming multipart/form-data reader with per-file and per-request limits.

Starlette's ``request.form()`` reads the whole body before the handler runs,
so limits cannot be enforced while streaming. This reader feeds the body to
python-multipart's incremental parser chunk by chunk, spooling each file part
to its own temp file (see :mod:`imghost.uploads.spool`) as it arrives.

A file over the per-file limit is marked and its remaining bytes are dropped,
so other files in the same batch still succeed; crossing the batch limit
stops reading the request at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from imghost.errors import AppError
from imghost.units import human_bytes
from imghost.uploads.spool import Spool, TooLarge

# Text fields are held in memory, so they are bounded one by one, in total
# and in number (without the last two, a body of many 64 KiB fields was held
# whole: 180 MB). The largest legitimate form (a 5000-character description,
# a title, 50 tags of 64 characters as separate fields, four flags) is about
# 35 KB in 56 fields; these leave room for clients that repeat fields.
MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS_BYTES = 256 * 1024
MAX_FIELDS = 100
MAX_HEADER_BYTES = 16 * 1024


@dataclass
class FilePart:
    filename: str | None
    spool: Spool
    too_large: bool = False


@dataclass
class Form:
    fields: dict[str, list[str]] = field(default_factory=dict)
    files: list[FilePart] = field(default_factory=list)

    def first(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[0] if values else None

    def cleanup(self) -> None:
        for part in self.files:
            part.spool.cleanup()


def _content_disposition(value: bytes) -> tuple[str | None, str | None]:
    _, params = parse_options_header(value)
    name = params.get(b"name")
    filename = params.get(b"filename")
    return (
        name.decode("utf-8", "replace") if name is not None else None,
        filename.decode("utf-8", "replace") if filename is not None else None,
    )


class _Reader:
    def __init__(
        self, boundary: bytes, staging: Path, max_file: int, max_files: int, form: Form
    ) -> None:
        self.staging = staging
        self.max_file = max_file
        self.max_files = max_files
        self.form = form
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, bytes] = {}
        self._header_bytes = 0
        self._field: tuple[str, bytearray] | None = None
        self._file: FilePart | None = None
        self.fields = 0  # text fields so far
        self.field_bytes = 0  # their bytes so far
        self.parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value_cb,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
            },
        )

    def _part_begin(self) -> None:
        self._headers = {}
        self._header_bytes = 0

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]
        self._count_header(end - start)

    def _header_value_cb(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]
        self._count_header(end - start)

    def _count_header(self, n: int) -> None:
        self._header_bytes += n
        if self._header_bytes > MAX_HEADER_BYTES:
            raise AppError(400, "malformed_multipart", "A multipart part has oversized headers.")

    def _header_end(self) -> None:
        self._headers[bytes(self._header_name).decode("latin-1").lower()] = bytes(
            self._header_value
        )
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        name, filename = _content_disposition(self._headers.get("content-disposition", b""))
        if filename is not None or name == "file":
            if len(self.form.files) >= self.max_files:
                raise AppError(
                    413,
                    "too_many_files",
                    f"At most {self.max_files} files can be uploaded in one request.",
                )
            self._file = FilePart(filename or None, Spool(self.staging, self.max_file))
            self.form.files.append(self._file)
        else:
            self.fields += 1
            if self.fields > MAX_FIELDS:
                raise AppError(
                    413, "too_many_fields", f"A form can have at most {MAX_FIELDS} text fields."
                )
            self._field = (name or "", bytearray())

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._file is not None:
            if self._file.too_large:
                return
            try:
                self._file.spool.write(memoryview(data)[start:end])
            except TooLarge:
                self._file.too_large = True
        elif self._field is not None:
            buf = self._field[1]
            buf += data[start:end]
            self.field_bytes += end - start
            if len(buf) > MAX_FIELD_BYTES:
                raise AppError(
                    413, "field_too_large", f"The form field {self._field[0]!r} is too long."
                )
            if self.field_bytes > MAX_FIELDS_BYTES:
                raise AppError(
                    413,
                    "fields_too_large",
                    f"The text fields of a form can hold at most {human_bytes(MAX_FIELDS_BYTES)}.",
                )

    def _part_end(self) -> None:
        if self._file is not None:
            self._file.spool.finish()
            self._file = None
        elif self._field is not None:
            name, buf = self._field
            self.form.fields.setdefault(name, []).append(buf.decode("utf-8", "replace"))
            self._field = None


def boundary_of(content_type: str) -> bytes:
    kind, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise AppError(
            400, "malformed_multipart", "Expected multipart/form-data with a boundary parameter."
        )
    return boundary


async def read_form(
    content_type: str,
    chunks: AsyncIterator[bytes],
    *,
    staging: Path,
    max_file: int,
    max_total: int,
    max_files: int,
) -> Form:
    """Parse a multipart body; on any error every spooled file is removed."""
    form = Form()
    reader = _Reader(boundary_of(content_type), staging, max_file, max_files, form)
    received = 0
    try:
        async for chunk in chunks:
            received += len(chunk)
            if received > max_total:
                # Which limit this is depends on how many files the body holds,
                # so the chunk that crossed it is parsed first (one read, and the
                # spools keep their own bound): a batch of small files that came
                # in one read is not mistaken for one big file.
                with contextlib.suppress(AppError, FormParserError):
                    await anyio.to_thread.run_sync(reader.parser.write, chunk)
                raise _over_batch_limit(form, max_file, max_total)
            # Parsing, hashing and file writes happen off the event loop.
            await anyio.to_thread.run_sync(reader.parser.write, chunk)
        reader.parser.finalize()
    except FormParserError as exc:
        form.cleanup()
        raise AppError(400, "malformed_multipart", "The multipart body is malformed.") from exc
    except BaseException:
        form.cleanup()
        raise
    if reader._file is not None or reader._field is not None:
        form.cleanup()
        raise AppError(
            400, "malformed_multipart", "The multipart body ended in the middle of a part."
        )
    return form


def _over_batch_limit(form: Form, max_file: int, max_total: int) -> AppError:
    if len(form.files) == 1:
        # One file that is simply too big: say that, not "batch".
        return AppError(
            413,
            "file_too_large",
            f"The file is larger than the {human_bytes(max_file)} limit.",
            limit=max_file,
        )
    return AppError(
        413,
        "batch_too_large",
        f"The upload is larger than the {human_bytes(max_total)} limit for one request.",
        limit=max_total,
    )
