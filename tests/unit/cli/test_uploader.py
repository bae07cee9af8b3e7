"""Choosing files, resuming across runs via the state file, and finishing via the API."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from imghost.cli.tus_client import Cancelled, RetryPolicy, TusClient
from imghost.cli.upload_state import UploadState, state_key
from imghost.cli.uploader import ImageFields, Uploader, collect_files, refused_by_server
from tests.unit.cli.fake_tus import SERVER, FakeTus, FakeUpload


@pytest.fixture
def state(tmp_path: Path) -> UploadState:
    return UploadState(tmp_path / "config" / "uploads.json")


def uploader(fake: FakeTus, state: UploadState, cancel: threading.Event | None = None) -> Uploader:
    tus = TusClient(
        fake.client(),
        "secret",
        chunk_size=64 * 1024,
        retry=RetryPolicy(attempts=3, base=0, cap=0),
        cancel=cancel,
    )
    return Uploader(tus, SERVER, state, ImageFields(title="T", tags=["a", "b"]))


def test_collect_files(tmp_path: Path) -> None:
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / ".hidden").mkdir()
    for name in [
        "d/b.JPG",
        "d/a.png",
        "d/sub/c.webp",
        "d/notes.txt",
        "d/.dot.jpg",
        "d/.hidden/x.jpg",
    ]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "readme.md").write_bytes(b"x")
    found = collect_files([tmp_path / "d", tmp_path / "readme.md", tmp_path / "d" / "a.png"])
    # Folder entries sorted, explicit files kept whatever their type, duplicates once.
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "d/a.png",
        "d/b.JPG",
        "d/sub/c.webp",
        "readme.md",
    ]


def test_metadata_only_has_what_is_set(tmp_path: Path) -> None:
    assert ImageFields().metadata(Path("x.png")) == {"filename": "x.png", "filetype": "image/png"}
    full = ImageFields("t", "d", ["a", "b"], "private").metadata(Path("x.unknownext"))
    assert full == {
        "filename": "x.unknownext",
        "filetype": "application/octet-stream",
        "title": "t",
        "description": "d",
        "tags": "a,b",
        "visibility": "private",
    }


def test_upload_gives_the_image_url_and_forgets_the_upload(
    tmp_path: Path, state: UploadState
) -> None:
    fake = FakeTus()
    path = tmp_path / "a.jpg"
    path.write_bytes(os.urandom(200_000))
    outcome = uploader(fake, state).upload(path, lambda _o: None)
    assert outcome.ok and outcome.url == f"{SERVER}/i/img_1"
    assert outcome.resumed_at is None
    assert fake.uploads["upl_1"].metadata["title"] == "T"
    assert state.get(state_key(SERVER, path)) is None


def test_resume_across_runs(tmp_path: Path, state: UploadState) -> None:
    fake = FakeTus()
    path = tmp_path / "a.jpg"
    data = os.urandom(500_000)
    path.write_bytes(data)
    cancel = threading.Event()

    def progress(offset: int) -> None:
        if offset > 200_000:
            cancel.set()

    with pytest.raises(Cancelled):
        uploader(fake, state, cancel).upload(path, progress)
    key = state_key(SERVER, path)
    assert state.get(key) == f"{SERVER}/v1/tus/upl_1"
    stored = len(fake.uploads["upl_1"].data)
    assert 0 < stored < len(data)

    outcome = uploader(fake, state).upload(path, lambda _o: None)
    assert outcome.ok and outcome.resumed_at == stored
    assert bytes(fake.uploads["upl_1"].data) == data
    assert list(fake.uploads) == ["upl_1"]
    assert state.get(key) is None


def test_gone_upload_starts_over(tmp_path: Path, state: UploadState) -> None:
    fake = FakeTus()
    path = tmp_path / "a.jpg"
    path.write_bytes(b"abc")
    key = state_key(SERVER, path)
    state.put(key, f"{SERVER}/v1/tus/upl_404", path)
    outcome = uploader(fake, state).upload(path, lambda _o: None)
    assert outcome.ok and outcome.resumed_at is None
    assert bytes(fake.uploads["upl_1"].data) == b"abc"
    assert state.get(key) is None


def test_killed_after_the_last_byte_is_already_an_image(tmp_path: Path, state: UploadState) -> None:
    fake = FakeTus()
    fake.head_gone_when_done = True  # some servers answer 410 once an upload is finished
    path = tmp_path / "a.jpg"
    path.write_bytes(b"abc")
    uploader(fake, state).upload(path, lambda _o: None)
    key = state_key(SERVER, path)
    state.put(key, f"{SERVER}/v1/tus/upl_1", path)  # as if the run died before forgetting it
    outcome = uploader(fake, state).upload(path, lambda _o: None)
    assert outcome.url == f"{SERVER}/i/img_1"
    assert list(fake.uploads) == ["upl_1"]
    assert state.get(key) is None


def test_refused_file_is_reported_and_forgotten(tmp_path: Path, state: UploadState) -> None:
    fake = FakeTus()
    path = tmp_path / "page.jpg"
    path.write_bytes(b"<html>" + b"x" * 100_000)
    outcome = uploader(fake, state).upload(path, lambda _o: None)
    assert not outcome.ok
    assert (outcome.code, outcome.detail) == ("unsupported_media_type", "not an image")
    assert state.get(state_key(SERVER, path)) is None


def test_refused_upload_from_an_earlier_run_is_not_resent(
    tmp_path: Path, state: UploadState
) -> None:
    fake = FakeTus()
    fake.head_gone_when_done = True  # as the server: HEAD of a refused upload is 410
    path = tmp_path / "page.jpg"
    path.write_bytes(b"<html>" + b"x" * 10)
    uploader(fake, state).upload(path, lambda _o: None)
    key = state_key(SERVER, path)
    state.put(key, f"{SERVER}/v1/tus/upl_1", path)
    outcome = uploader(fake, state).upload(path, lambda _o: None)
    assert outcome.code == "unsupported_media_type"
    assert fake.count("POST") == 1
    assert state.get(key) is None


def test_wrong_token_keeps_the_url_for_later(tmp_path: Path, state: UploadState) -> None:
    fake = FakeTus()
    path = tmp_path / "a.jpg"
    path.write_bytes(b"abc")
    key = state_key(SERVER, path)
    fake.uploads["upl_7"] = FakeUpload(3, {})
    state.put(key, f"{SERVER}/v1/tus/upl_7", path)
    fake.fail_with("HEAD", 401, "unauthorized")
    outcome = uploader(fake, state).upload(path, lambda _o: None)
    assert outcome.code == "unauthorized"
    assert state.get(key) == f"{SERVER}/v1/tus/upl_7"


def test_missing_file_is_a_read_error(tmp_path: Path, state: UploadState) -> None:
    outcome = uploader(FakeTus(), state).upload(tmp_path / "nope.jpg", lambda _o: None)
    assert outcome.code == "read_error"


def test_tiff_and_bmp_are_known_refused() -> None:
    refused = [
        p for p in ("a.tif", "b.TIFF", "c.bmp", "d.jpg", "e.png", "f") if refused_by_server(Path(p))
    ]
    assert refused == ["a.tif", "b.TIFF", "c.bmp"]


def test_a_duplicate_is_the_existing_image(tmp_path: Path, state: UploadState) -> None:
    fake = FakeTus()
    data = os.urandom(10_000)
    first, second = tmp_path / "a.jpg", tmp_path / "copy-of-a.jpg"
    first.write_bytes(data)
    second.write_bytes(data)
    up = uploader(fake, state)
    original = up.upload(first, lambda _o: None)
    again = up.upload(second, lambda _o: None)
    assert not original.duplicate
    assert again.ok and again.duplicate and again.image_id == original.image_id
