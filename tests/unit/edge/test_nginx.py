"""The edge's nginx configuration: what each setting turns on, and that nginx accepts it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from imghost.edge.nginx import SENDFILE_PREFIX, EdgeConfigError, EdgeOptions, render, standalone
from imghost.settings import Settings
from imghost.testing.servers import Unavailable, nginx_binary

KEY = "k1:" + "A" * 43 + "="


def settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"storage_url": f"file://{tmp_path}/blobs", **overrides}
    return Settings.from_env({}, **values)


def test_local_plaintext_blobs_are_sent_by_nginx(tmp_path: Path) -> None:
    conf = render(settings(tmp_path), EdgeOptions())
    assert f"location {SENDFILE_PREFIX}" in conf
    assert f"alias {(tmp_path / 'blobs').resolve()}/;" in conf
    assert f"X-Imghost-Sendfile {SENDFILE_PREFIX}" in conf


@pytest.mark.parametrize(
    "overrides",
    [{"encryption_keys": KEY}, {"storage_url": "s3://bucket/prefix", "secret_key": "s" * 40}],
    ids=["encrypted", "s3"],
)
def test_blobs_pass_through_the_origin_unless_plain_files(
    tmp_path: Path, overrides: dict[str, object]
) -> None:
    conf = render(settings(tmp_path, **overrides), EdgeOptions())
    assert SENDFILE_PREFIX not in conf
    with pytest.raises(EdgeConfigError, match="plaintext local storage"):
        render(settings(tmp_path, **overrides), EdgeOptions(sendfile=True))


def test_limits_follow_the_settings(tmp_path: Path) -> None:
    conf = render(
        settings(
            tmp_path, max_batch_size=10_000_000, max_file_size=5_000_000, max_header_bytes=100_000
        ),
        EdgeOptions(),
    )
    assert f"client_max_body_size {10_000_000 + 1024 * 1024};" in conf
    assert "large_client_header_buffers 8 98k;" in conf


def test_unsafe_values_are_refused(tmp_path: Path) -> None:
    with pytest.raises(EdgeConfigError):
        render(settings(tmp_path), EdgeOptions(upstreams=("127.0.0.1:8000; evil",)))


def test_nginx_accepts_the_configuration(tmp_path: Path) -> None:
    try:
        binary = nginx_binary()
    except Unavailable as exc:
        pytest.skip(str(exc))
    options = EdgeOptions(listen="127.0.0.1:1", cache_dir=str(tmp_path / "cache"))
    (tmp_path / "nginx.conf").write_text(standalone(render(settings(tmp_path), options), tmp_path))
    checked = subprocess.run(
        [binary, "-t", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
