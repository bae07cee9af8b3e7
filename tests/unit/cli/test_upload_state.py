"""The state file: keys follow the file's identity, writes are atomic and thread-safe."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from imghost.cli import upload_state
from imghost.cli.upload_state import UploadState, fingerprint, state_key

SERVER = "http://img.test"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("IMGHOST_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path / "config"


def test_key_changes_with_server_content_size_and_mtime(tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    path.write_bytes(b"a" * 300_000)
    key = state_key(SERVER, path)
    assert state_key(SERVER, path) == key
    assert state_key("http://other.test", path) != key
    # Same size and mtime, different last bytes: the fingerprint notices.
    st = path.stat()
    path.write_bytes(b"a" * 299_999 + b"b")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert state_key(SERVER, path) != key
    changed = state_key(SERVER, path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert state_key(SERVER, path) != changed
    # A relative spelling of the same file is the same key.
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        assert state_key(SERVER, Path("a.jpg")) == state_key(SERVER, path)
    finally:
        os.chdir(cwd)


def test_fingerprint_reads_only_the_edges(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(b"x" * 100_000 + b"middle" + b"x" * 100_000)
    before = fingerprint(path, path.stat().st_size)
    path.write_bytes(b"x" * 100_000 + b"MIDDLE" + b"x" * 100_000)
    assert fingerprint(path, path.stat().st_size) == before  # size and mtime catch the rest
    small = tmp_path / "small"
    small.write_bytes(b"tiny")
    assert fingerprint(small, 4) != fingerprint(path, path.stat().st_size)


def test_put_get_drop_persist_privately(config: Path, tmp_path: Path) -> None:
    file = tmp_path / "a.jpg"
    file.write_bytes(b"data")
    state = UploadState()
    assert state.path == config / "uploads.json"
    assert state.get("k") is None
    state.put("k", "http://img.test/v1/tus/upl_1", file)
    assert UploadState().get("k") == "http://img.test/v1/tus/upl_1"
    assert stat.S_IMODE(state.path.stat().st_mode) == 0o600
    saved = json.loads(state.path.read_text())
    assert saved["uploads"]["k"]["path"] == str(file.resolve())
    state.drop("k")
    assert UploadState().get("k") is None
    assert [p.name for p in config.iterdir() if p.name.endswith(".tmp")] == []


def test_parallel_writers_lose_nothing(config: Path, tmp_path: Path) -> None:
    file = tmp_path / "a.jpg"
    file.write_bytes(b"data")
    states = [UploadState(), UploadState()]  # two runs at once share only the file lock

    def writer(n: int) -> None:
        for i in range(20):
            states[n % 2].put(f"{n}-{i}", f"url-{n}-{i}", file)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = UploadState()
    assert all(final.get(f"{n}-{i}") == f"url-{n}-{i}" for n in range(6) for i in range(20))


def test_corrupt_file_and_old_entries_are_tolerated(config: Path, tmp_path: Path) -> None:
    file = tmp_path / "a.jpg"
    file.write_bytes(b"data")
    config.mkdir()
    (config / "uploads.json").write_text("{not json")
    state = UploadState()
    assert state.get("k") is None
    state.put("old", "u1", file)
    data = json.loads(state.path.read_text())
    data["uploads"]["old"]["updatedAt"] = int(time.time()) - upload_state.MAX_AGE - 1
    state.path.write_text(json.dumps(data))
    state.put("new", "u2", file)
    assert state.get("old") is None and state.get("new") == "u2"
