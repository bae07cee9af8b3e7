"""Where the client side of the CLI keeps its files: credentials and upload state.

Both live in ``$IMGHOST_CONFIG_DIR`` (default ``~/.config/imghost``). They are
written atomically (temporary file, fsync, rename) with mode 0600, so a crash
or a concurrent reader never sees half a file, and other local users never
see an API key.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_SERVER = "http://127.0.0.1:8000"
CREDENTIALS_FILE = "credentials.json"


def config_dir() -> Path:
    explicit = os.environ.get("IMGHOST_CONFIG_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "imghost"


def normalize_server(url: str) -> str:
    """One spelling per server, so a stored key is matched to where it belongs."""
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = f"http://{url}"
    return url


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp already creates the file 0600; say so for readers of this code.
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def read_json(path: Path) -> dict[str, Any] | None:
    """The file's object, or None when it is missing or not a JSON object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


@dataclass(frozen=True)
class Credentials:
    server: str
    api_key: str
    email: str | None = None
    key_id: str | None = None


def credentials_path() -> Path:
    return config_dir() / CREDENTIALS_FILE


def load_credentials() -> Credentials | None:
    data = read_json(credentials_path())
    if (
        not data
        or not isinstance(data.get("server"), str)
        or not isinstance(data.get("apiKey"), str)
    ):
        return None
    email, key_id = data.get("email"), data.get("keyId")
    return Credentials(
        server=normalize_server(data["server"]),
        api_key=data["apiKey"],
        email=email if isinstance(email, str) else None,
        key_id=key_id if isinstance(key_id, str) else None,
    )


def save_credentials(creds: Credentials) -> Path:
    path = credentials_path()
    data = {"server": creds.server, "apiKey": creds.api_key}
    if creds.email:
        data["email"] = creds.email
    if creds.key_id:
        data["keyId"] = creds.key_id
    write_json_atomic(path, data)
    return path
