"""The S3 store's presigner is built off the event loop (review of issue 14:
the first presigned upload blocked the loop for about 100 ms)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from imghost.storage import s3


def test_the_presigner_is_built_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built_in: list[threading.Thread] = []
    real = s3.boto3_client

    def recording(*args: Any, **kwargs: Any) -> Any:
        built_in.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(s3, "boto3_client", recording)
    store = s3.S3BlobStore(
        "s3://bucket?endpoint=http://127.0.0.1:9&region=us-east-1"
        "&access_key_id=k&secret_access_key=s",
        staging_dir=tmp_path,
    )

    async def presign_twice() -> tuple[str | None, str | None, threading.Thread]:
        first = await store.presign_put("a", 60, size=10)
        second = await store.presign_put("b", 60, size=10)
        return first, second, threading.current_thread()

    first, second, loop_thread = asyncio.run(presign_twice())
    assert first is not None and "Signature" in first
    assert second is not None
    assert len(built_in) == 1  # built once, then reused
    assert built_in[0] is not loop_thread
