"""The generated secret key of an install that configured none.

A published default key would let anyone who reads the source forge access
tokens, signed URLs and share-link grants. So an embedded install (SQLite and
local files on one host) that sets no ``IMGHOST_SECRET_KEY`` gets a random key
on first start, kept in the data directory, readable by its owner only.

Every process of the install must hold the same key (a token signed by one API
process is checked by another, and by the CLI). The file is therefore written
whole under a temporary name and published with ``os.link``, which fails if
the name exists: of two processes that race on a first start, one key wins and
both read it. Nothing ever sees a half-written key.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import secrets as _random  # the module name `secrets` is taken by the stdlib
from pathlib import Path

log = logging.getLogger(__name__)

FILENAME = "secret_key"
KEY_BYTES = 48  # 384 bits, printed as 64 URL-safe base64 characters
MIN_LENGTH = 32


class KeyFileError(RuntimeError):
    """The key file cannot be read or created: a sentence says what to do."""


def _new_key() -> str:
    return base64.urlsafe_b64encode(_random.token_bytes(KEY_BYTES)).decode("ascii")


def _read(path: Path) -> str:
    mode = path.stat().st_mode
    if mode & 0o077:
        # Not fatal (a volume mounted by another tool may widen modes), but
        # anyone who can read it can forge every token of this install.
        log.warning("%s is readable by other users (mode %o); chmod 600 it", path, mode & 0o777)
    key = path.read_text(encoding="ascii").strip()
    if len(key) < MIN_LENGTH:
        raise KeyFileError(
            f"{path} holds no usable key (fewer than {MIN_LENGTH} characters); delete it to "
            "have a new one generated (every token and signed URL issued so far stops "
            "working) or set IMGHOST_SECRET_KEY"
        )
    return key


def load_or_create(data_dir: str | os.PathLike[str]) -> str:
    """The install's key from ``DATA_DIR/secret_key``, created on first use.

    Safe to call from several processes at once: all of them return the same key.
    """
    directory = Path(data_dir)
    path = directory / FILENAME
    try:
        if path.exists():
            return _read(path)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        temp = directory / f".{FILENAME}.{os.getpid()}.{_random.token_hex(8)}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(_new_key() + "\n")
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(temp, path)  # atomic, and fails if another process won
                log.info("generated a secret key in %s", path)
            except FileExistsError:
                pass
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        return _read(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(
            f"cannot read or create the secret key file {path} ({exc}); make the data "
            "directory (IMGHOST_DATA_DIR) writable or set IMGHOST_SECRET_KEY "
            "(e.g. `openssl rand -base64 48`)"
        ) from exc
