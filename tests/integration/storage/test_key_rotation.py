"""`imghost keys encrypt-existing` and `imghost keys rotate` on a deployment
that was serving plaintext: every blob ends up encrypted, then wrapped under
the new key, and the service serves the same bytes with only that key."""

from __future__ import annotations

import base64
from typing import Any

import anyio
import httpx
import pytest
from typer.testing import CliRunner

from imghost.cli import commands
from imghost.context import AppContext
from imghost.jobs import queue
from imghost.maintenance import keys as blob_keys
from imghost.settings import Settings
from imghost.storage import envelope
from imghost.storage.encrypted import EncryptedBlobStore
from tests.conftest import BACKENDS, LiveServer
from tests.factories import image_bytes, make_user, upload_ok

K1 = "k1:" + base64.b64encode(b"rotation-test-key-number-one-32b").decode()
K2 = "k2:" + base64.b64encode(b"rotation-test-key-number-two-32b").decode()


def served(settings: Settings, image_id: str, user_headers: dict[str, str]) -> tuple[bytes, int]:
    """The original's bytes and the small thumbnail's status, from a live server."""
    with LiveServer(settings) as live, httpx.Client(base_url=live.url, timeout=30) as client:
        original = client.get(f"/images/{image_id}", headers=user_headers)
        assert original.status_code == 200, original.text
        thumb = client.get(f"/images/{image_id}/thumb.webp", headers=user_headers)
        return original.content, thumb.status_code


def run_command(settings: Settings, command: str) -> None:
    """The command as an operator runs it, then its jobs, as a worker would."""
    env = {
        "IMGHOST_DATABASE_URL": settings.database_url,
        "IMGHOST_STORAGE_URL": settings.storage_url,
        "IMGHOST_SECRET_KEY": settings.secret_key,
        "IMGHOST_ENCRYPTION_KEYS": settings.encryption_keys,
        "IMGHOST_TMP_DIR": settings.tmp_dir,
    }
    result = CliRunner().invoke(commands.cli, ["keys", command], env=env)
    assert result.exit_code == 0, result.output

    async def work() -> None:
        ctx = AppContext.build(settings)
        assert isinstance(ctx.store, EncryptedBlobStore)
        try:
            async with ctx.sessions() as session:
                jobs = await queue.claim(session, "test-worker", 60)
                await session.commit()
            assert jobs and {job.kind for job in jobs} == {blob_keys.BLOB_KEYS}
            for job in jobs:
                await blob_keys.run(ctx.store, job.payload)
        finally:
            await ctx.close()

    anyio.run(work)


def stored_heads(settings: Settings) -> dict[str, bytes]:
    """Each blob's first bytes as the store holds them."""

    async def read() -> dict[str, bytes]:
        ctx = AppContext.build(settings)
        store = ctx.store
        assert isinstance(store, EncryptedBlobStore)
        try:
            return {
                key: await store.inner.read(key, 0, envelope.HEADER)
                async for batch in blob_keys.blob_keys(store)
                for key in batch
            }
        finally:
            await ctx.close()

    return anyio.run(read)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_encrypt_existing_then_rotate(settings_factory: Any) -> None:
    plain = settings_factory()
    with LiveServer(plain) as live, httpx.Client(base_url=live.url, timeout=30) as client:
        user = make_user(client)
        data = image_bytes("PNG", size=(300, 200))
        image_id = upload_ok(client, user, data=data)["imageId"]
        headers = user.headers

    first = settings_factory(encryption_keys=K1)
    assert served(first, image_id, headers) == (data, 200)  # plaintext is read as it is
    run_command(first, "encrypt-existing")
    heads = stored_heads(first)
    assert len(heads) >= 3  # the original and its derivatives
    assert all(envelope.Header.decode(h).kid == "k1" for h in heads.values())
    assert served(first, image_id, headers) == (data, 200)

    # A new key first, the old one kept to unwrap until the rotation is done.
    rotating = settings_factory(encryption_keys=f"{K2},{K1}")
    run_command(rotating, "rotate")
    assert all(envelope.Header.decode(h).kid == "k2" for h in stored_heads(rotating).values())
    # Only the new key now: every blob still opens.
    assert served(settings_factory(encryption_keys=K2), image_id, headers) == (data, 200)
