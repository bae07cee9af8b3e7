"""`imghost serve` as installed: the generated secret key and X-Forwarded-For.

A default install (no IMGHOST_SECRET_KEY) generates its key on first start,
before uvicorn forks: every API process, a later start and the CLI hold the
same key. X-Forwarded-For is believed only from IMGHOST_TRUSTED_PROXIES (none
by default): before, uvicorn trusted it from loopback, and rotating it let
every anonymous view past the per-address limit.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import httpx

from tests.e2e.service import BIN, ServiceProcess
from tests.factories import make_user

LIMIT = 3  # anonymous views per minute, per address (and per process: no Redis)


def _views(url: str, forwarded_for: list[str]) -> list[int]:
    """One anonymous view per address claimed, each on a new connection."""
    statuses = []
    for address in forwarded_for:
        with httpx.Client(base_url=url, timeout=30) as c:
            r = c.head("/images/img_nosuchimage", headers={"X-Forwarded-For": address})
            statuses.append(r.status_code)
    return statuses


def test_generated_key_is_shared_and_forwarded_for_needs_a_trusted_proxy(tmp_path: Path) -> None:
    env = {
        "IMGHOST_SECRET_KEY": "",  # unset, as in a default install
        "IMGHOST_WORKERS": "2",
        "IMGHOST_RUN_WORKER": "false",
        "IMGHOST_RATE_LIMITS_ANONYMOUS": f"views={LIMIT}/minute",
    }
    key_file = tmp_path / "data" / "secret_key"
    with ServiceProcess(tmp_path, env) as service:
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        key = key_file.read_text().strip()
        with httpx.Client(base_url=service.url, timeout=30) as client:
            user = make_user(client)
        # New connections land on both API processes: each accepts the token.
        for _ in range(12):
            with httpx.Client(base_url=service.url, timeout=30) as c:
                assert c.get("/v1/users/me", headers=user.headers).status_code == 200

        rotating = [f"198.51.100.{i}" for i in range(1, 13)]
        statuses = _views(service.url, rotating)
        # Every view counts against 127.0.0.1 (in each of the 2 processes, whose
        # counters are their own: at most 2 * LIMIT pass, fewer than rotating).
        assert 429 in statuses, statuses

    cli_env = {**service.env}
    settings = subprocess.run(
        [str(BIN / "imghost"), "settings"],
        cwd=tmp_path,
        env=cli_env,
        capture_output=True,
        text=True,
    )
    assert settings.returncode == 0, settings.stderr
    assert "IMGHOST_SECRET_KEY" in settings.stdout and key not in settings.stdout
    worker_key = subprocess.run(
        [
            str(BIN / "python"),
            "-c",
            "from imghost.settings import Settings as S; print(S.from_env().secret_key)",
        ],
        cwd=tmp_path,
        env=cli_env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert worker_key.stdout.strip() == key

    trusted = {**env, "IMGHOST_WORKERS": "1", "IMGHOST_TRUSTED_PROXIES": "127.0.0.1/32, ::1"}
    with ServiceProcess(tmp_path, trusted) as service:
        assert key_file.read_text().strip() == key  # a second start reads the same key
        with httpx.Client(base_url=service.url, timeout=30) as c:
            assert c.get("/v1/users/me", headers=user.headers).status_code == 200
        # From a listed proxy, the forwarded address is the client's.
        assert 429 not in _views(service.url, rotating)
        same = _views(service.url, ["203.0.113.9"] * (LIMIT + 1))
        assert same == [404] * LIMIT + [429], same


def _serve_refused(tmp_path: Path, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("IMGHOST_")}
    done = subprocess.run(
        [str(BIN / "imghost"), "serve"],
        cwd=tmp_path,
        env={**environ, "IMGHOST_PORT": "1", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    return " ".join(done.stdout.split())  # rich wraps long lines


def test_serve_refuses_a_forgeable_setup_and_says_what_to_set(tmp_path: Path) -> None:
    out = _serve_refused(tmp_path, IMGHOST_DATABASE_URL="postgresql://u:p@127.0.0.1:1/imghost")
    assert "IMGHOST_SECRET_KEY must be set" in out and "openssl rand -base64 48" in out
    out = _serve_refused(tmp_path, IMGHOST_STORAGE_URL="s3://bucket?endpoint=http://127.0.0.1:1")
    assert "IMGHOST_SECRET_KEY must be set" in out
    out = _serve_refused(tmp_path, IMGHOST_HOST="0.0.0.0", IMGHOST_SECRET_KEY="k" * 40)
    assert "IMGHOST_HOST=0.0.0.0" in out and "IMGHOST_PUBLIC_BASE_URL" in out
    assert not (tmp_path / "data" / "secret_key").exists()
