"""Multipart text fields are bounded one by one, in total and in number: they
are held in memory (issue 14: a body of many fields was held whole)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from imghost.errors import AppError
from imghost.uploads import multipart
from imghost.uploads.multipart import read_form

pytestmark = pytest.mark.anyio

BOUNDARY = "xyz"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def _field(name: str, value: bytes) -> bytes:
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
    return head.encode() + value + b"\r\n"


async def _read(parts: list[bytes], staging: Path) -> multipart.Form:
    async def chunks() -> AsyncIterator[bytes]:
        for part in parts:
            yield part
        yield f"--{BOUNDARY}--\r\n".encode()

    return await read_form(
        CONTENT_TYPE, chunks(), staging=staging, max_file=10**6, max_total=10**9, max_files=5
    )


async def test_too_many_fields(tmp_path: Path) -> None:
    parts = [_field("tags", b"a") for _ in range(multipart.MAX_FIELDS + 1)]
    with pytest.raises(AppError) as caught:
        await _read(parts, tmp_path)
    assert (caught.value.status, caught.value.code) == (413, "too_many_fields")


async def test_fields_too_large_in_total(tmp_path: Path) -> None:
    each = b"a" * (multipart.MAX_FIELD_BYTES - 1)  # every field under its own limit
    count = multipart.MAX_FIELDS_BYTES // len(each) + 1
    assert count <= multipart.MAX_FIELDS
    with pytest.raises(AppError) as caught:
        await _read([_field(f"f{i}", each) for i in range(count)], tmp_path)
    assert (caught.value.status, caught.value.code) == (413, "fields_too_large")


async def test_a_full_legitimate_form_passes(tmp_path: Path) -> None:
    parts = [_field("description", "é".encode() * 5000), _field("title", b"t" * 200)]
    parts += [_field("tags", b"t" * 64) for _ in range(50)]
    form = await _read(parts, tmp_path)
    assert len(form.fields["tags"]) == 50


def _file(name: str, data: bytes) -> bytes:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: image/png\r\n\r\n"
    )
    return head.encode() + data + b"\r\n"


@pytest.mark.parametrize("reads", ["one", "per file", "first, then the rest"])
async def test_a_batch_over_its_limit_is_named_a_batch(tmp_path: Path, reads: str) -> None:
    """Four files under the file limit, over the batch limit together: the answer
    says batch however the body was cut into reads (the limit crossed in a read
    that starts the second file, too)."""
    files = [_file(f"{i}.png", b"x" * 15_000) for i in range(4)]
    body = {
        "one": [b"".join(files)],
        "per file": files,
        "first, then the rest": [files[0], b"".join(files[1:])],
    }[reads]

    async def chunks() -> AsyncIterator[bytes]:
        for part in body:
            yield part
        yield f"--{BOUNDARY}--\r\n".encode()

    with pytest.raises(AppError) as caught:
        await read_form(
            CONTENT_TYPE, chunks(), staging=tmp_path, max_file=20_000, max_total=50_000, max_files=5
        )
    assert (caught.value.status, caught.value.code) == (413, "batch_too_large")
    assert not list(tmp_path.iterdir())  # every spool removed
