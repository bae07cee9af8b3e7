"""`imghost login` and `imghost upload` as a user runs them, against the real server.

The CLI runs as a subprocess of the installed `imghost` script with its own
config dir; the server is the app under uvicorn on each backend combination.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.conftest import LiveServer
from tests.e2e.service import BIN
from tests.factories import PASSWORD, UserHandle, image_bytes, make_user
from tests.helpers.mfa import enrol

TUS = {"Tus-Resumable": "1.0.0"}


def run_cli(
    config: Path, *args: str, timeout: float = 60, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "imghost"), *args],
        # Wide enough that rich does not wrap the summary table's codes.
        env={**os.environ, "IMGHOST_CONFIG_DIR": str(config), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=timeout,
        input=stdin,
    )


def printed_urls(stdout: str) -> dict[str, str]:
    pairs = [line.split(" -> ") for line in stdout.splitlines() if " -> " in line]
    return {Path(path).name: url for path, url in pairs}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def served(client: httpx.Client, user: UserHandle, url: str) -> tuple[dict[str, Any], bytes]:
    image_id = url.rsplit("/", 1)[-1]
    r = client.get(f"/v1/images/{image_id}", headers=user.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["url"] == url
    original = client.get(url, headers=user.headers)
    assert original.status_code == 200
    return body, original.content


def state_entries(config: Path) -> dict[str, Any]:
    path = config / "uploads.json"
    if not path.exists():
        return {}
    entries: dict[str, Any] = json.loads(path.read_text())["uploads"]
    return entries


def noise_png(path: Path, side: int) -> bytes:
    """A PNG that does not compress: its size is about side * side * 3 bytes."""
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(
        path, format="PNG", compress_level=0
    )
    return path.read_bytes()


def test_upload_a_folder_in_parallel(
    live: LiveServer, client: httpx.Client, tmp_path: Path
) -> None:
    user = make_user(client)
    folder = tmp_path / "photos"
    (folder / "2024").mkdir(parents=True)
    (folder / ".thumbs").mkdir()
    files = {
        "red.jpg": image_bytes("JPEG", color=(200, 30, 30)),
        "green.PNG": image_bytes("PNG", color=(30, 200, 30)),
        "2024/blue.webp": image_bytes("WEBP", color=(30, 30, 200), lossless=True),
        "2024/gray.gif": image_bytes("GIF", color=(90, 90, 90)),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    (folder / "notes.txt").write_text("not an image")
    (folder / ".hidden.jpg").write_bytes(image_bytes())
    (folder / ".thumbs" / "t.jpg").write_bytes(image_bytes())
    config = tmp_path / "config"

    result = run_cli(
        config,
        "upload",
        str(folder),
        "--server",
        live.url,
        "--token",
        user.access_token,
        "--parallel",
        "2",
        "--title",
        "Holiday",
        "--tags",
        "sea, sun",
        "--visibility",
        "unlisted",
    )
    assert result.returncode == 0, result.stderr + result.stdout
    urls = printed_urls(result.stdout)
    assert sorted(urls) == sorted(Path(n).name for n in files)
    # Lines come in the order the files were found, whatever finished first.
    assert [Path(line.split(" -> ")[0]).name for line in result.stdout.splitlines()] == [
        "green.PNG",
        "red.jpg",
        "blue.webp",
        "gray.gif",
    ]
    for name, data in files.items():
        image, content = served(client, user, urls[Path(name).name])
        assert sha256(content) == sha256(data), name
        assert image["title"] == "Holiday"
        assert image["tags"] == ["sea", "sun"]
        assert image["visibility"] == "unlisted"
        assert image["ownerId"] == user.user_id
    listed = client.get(f"/v1/users/{user.user_id}/images", headers=user.headers).json()
    assert listed["total"] == len(files)
    assert state_entries(config) == {}  # finished uploads are forgotten


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_resume_after_the_cli_is_stopped(
    live: LiveServer, client: httpx.Client, tmp_path: Path, sig: signal.Signals
) -> None:
    user = make_user(client)
    big = tmp_path / "big.png"
    data = noise_png(big, 2600)  # about 20 MB: 20 requests of 1 MiB
    config = tmp_path / "config"
    args = ["upload", str(big), "--server", live.url, "--token", user.access_token]
    proc = subprocess.Popen(
        [str(BIN / "imghost"), *args, "--chunk-size", "1"],
        env={**os.environ, "IMGHOST_CONFIG_DIR": str(config)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        upload_url, offset = wait_for_progress(client, user, config, proc)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if sig == signal.SIGINT:
        assert proc.returncode == 130, err
        assert "run the same command again to resume" in err
    else:
        assert proc.returncode == -signal.SIGKILL
    assert printed_urls(out) == {}
    # The state file survived the stop and still names the same upload.
    assert [e["url"] for e in state_entries(config).values()] == [upload_url]
    result = run_cli(config, *args, "--chunk-size", "4")
    assert result.returncode == 0, result.stderr + result.stdout
    # The server may still have stored the chunk that was in flight at the kill.
    resumed = re.search(
        rf"resumed {re.escape(str(big))} at byte ([\d,]+) of ([\d,]+)", result.stderr
    )
    assert resumed, result.stderr
    resumed_at = int(resumed[1].replace(",", ""))
    assert offset <= resumed_at < len(data) == int(resumed[2].replace(",", ""))
    url = printed_urls(result.stdout)["big.png"]
    image, content = served(client, user, url)
    assert sha256(content) == sha256(data)
    # The image came from the first run's upload: the server saw a continuation.
    upload_id = upload_url.rsplit("/", 1)[-1]
    status = client.get(f"/v1/uploads/{upload_id}", headers=user.headers).json()
    assert status["status"] == "completed"
    assert status["imageId"] == image["imageId"]
    listed = client.get(f"/v1/users/{user.user_id}/images", headers=user.headers).json()
    assert listed["total"] == 1
    assert state_entries(config) == {}


def wait_for_progress(
    client: httpx.Client, user: UserHandle, config: Path, proc: subprocess.Popen[str]
) -> tuple[str, int]:
    """The upload URL from the state file, once the server holds some of its bytes."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the CLI finished before it could be stopped"
        urls = [e["url"] for e in state_entries(config).values()]
        if urls:
            r = client.head(urls[0], headers={**TUS, **user.headers})
            offset = int(r.headers.get("upload-offset", "0"))
            if offset > 0:
                return urls[0], offset
        time.sleep(0.005)
    raise AssertionError("the upload never made progress")


def test_failed_files_are_summarized(
    settings_factory: Any, client_factory: Any, tmp_path: Path
) -> None:
    with LiveServer(settings_factory(max_file_size=300_000)) as live:
        client = client_factory(live)
        user = make_user(client)
        good = tmp_path / "good.png"
        good.write_bytes(image_bytes("PNG"))
        page = tmp_path / "page.jpg"
        page.write_text("<!doctype html><html><body>not a photo</body></html>")
        huge = tmp_path / "huge.png"
        noise_png(huge, 400)  # about 480 kB, over the limit
        config = tmp_path / "config"
        result = run_cli(
            config,
            "upload",
            str(good),
            str(page),
            str(huge),
            "--server",
            live.url,
            "--token",
            user.access_token,
        )
        assert result.returncode == 1, result.stderr + result.stdout
        assert list(printed_urls(result.stdout)) == ["good.png"]
        summary = result.stderr
        assert "2 of 3 failed" in summary
        assert "unsupported_media_type" in summary and "page.jpg" in summary
        assert "file_too_large" in summary and "huge.png" in summary
        # A file the server judged is not retried next time; nothing is left to resume.
        assert state_entries(config) == {}


@pytest.fixture
def client_factory() -> Any:
    clients: list[httpx.Client] = []

    def make(live: LiveServer) -> httpx.Client:
        clients.append(httpx.Client(base_url=live.url, timeout=60))
        return clients[-1]

    yield make
    for c in clients:
        c.close()


def test_login_stores_a_key_that_uploads(
    live: LiveServer, client: httpx.Client, tmp_path: Path
) -> None:
    user = make_user(client)
    config = tmp_path / "config"
    wrong = run_cli(
        config, "login", "--server", live.url, "--email", user.email, "--password", "nope"
    )
    assert wrong.returncode == 1
    assert "invalid_credentials" in wrong.stderr
    assert not (config / "credentials.json").exists()

    for _ in range(2):  # logging in again replaces (and revokes) the stored key
        result = run_cli(
            config,
            "login",
            "--server",
            f"{live.url}/",
            "--email",
            user.email,
            "--password",
            PASSWORD,
        )
        assert result.returncode == 0, result.stderr + result.stdout
    creds_path = config / "credentials.json"
    assert stat.S_IMODE(creds_path.stat().st_mode) == 0o600
    creds = json.loads(creds_path.read_text())
    assert creds["server"] == live.url
    assert creds["apiKey"].startswith("ihk_")
    keys = client.get("/v1/users/me/api-keys", headers=user.headers).json()
    assert [k["name"] for k in keys] == ["imghost cli"]

    photo = tmp_path / "photo.jpg"
    photo.write_bytes(image_bytes())
    # No --server and no --token: both come from the login.
    result = run_cli(config, "upload", str(photo))
    assert result.returncode == 0, result.stderr + result.stdout
    image, content = served(client, user, printed_urls(result.stdout)["photo.jpg"])
    assert content == photo.read_bytes()
    assert image["ownerId"] == user.user_id

    # The stored key is only ever sent to the server it came from.
    other = run_cli(config, "upload", str(photo), "--server", "http://127.0.0.1:9")
    assert other.returncode == 2
    assert "Not logged in to http://127.0.0.1:9" in other.stderr


def test_tiff_and_bmp_are_skipped_and_duplicates_reported(
    live: LiveServer, client: httpx.Client, tmp_path: Path
) -> None:
    user = make_user(client)
    folder = tmp_path / "photos"
    folder.mkdir()
    data = image_bytes("PNG", color=(12, 34, 56))
    (folder / "a.png").write_bytes(data)
    (folder / "b-copy.png").write_bytes(data)
    (folder / "scan.tif").write_bytes(image_bytes("TIFF"))
    (folder / "old.bmp").write_bytes(image_bytes("BMP"))
    result = run_cli(
        tmp_path / "config",
        "upload",
        str(folder),
        "--parallel",
        "1",
        "--server",
        live.url,
        "--token",
        user.access_token,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    err = result.stderr
    assert "skipped" in err and "scan.tif" in err and "old.bmp" in err
    assert "TIFF or BMP" in err
    # Both PNGs print the one image's URL; the second is named a skipped duplicate.
    urls = printed_urls(result.stdout)
    assert sorted(urls) == ["a.png", "b-copy.png"]
    assert urls["a.png"] == urls["b-copy.png"]
    assert "skipped duplicate" in err and "b-copy.png" in err
    assert "1 duplicate(s) skipped" in err
    listing = client.get(f"/v1/users/{user.user_id}/images", headers=user.headers).json()
    assert listing["total"] == 1


# The client's side of the flow; the server's runs on both backends in
# tests/integration/auth/test_mfa.py.
@pytest.mark.parametrize("backend", ["sqlite-local"])
def test_login_with_two_factor_sign_in(
    live: LiveServer, client: httpx.Client, tmp_path: Path
) -> None:
    enrolled = enrol(client, make_user(client))
    config, email = tmp_path / "config", enrolled.user.email
    login = ("login", "--server", live.url, "--email", email, "--password", PASSWORD)
    # Without --code it asks for the code once the password is right.
    result = run_cli(config, *login, stdin=enrolled.recovery[0] + "\n")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "authenticator app" in result.stdout
    assert json.loads((config / "credentials.json").read_text())["apiKey"].startswith("ihk_")
    wrong = run_cli(config, *login, "--code", enrolled.recovery[0])  # used up
    assert wrong.returncode == 1 and "invalid_mfa_code" in wrong.stderr
