"""tus creation-with-upload: a refused body leaves no upload behind, and a
body cut short says where its upload is (review of issue 14)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from sqlalchemy import func, select

from imghost.quotas.models import QuotaReservation
from imghost.uploads import services
from imghost.uploads.models import Upload
from imghost.uploads.slots import UploadSlots
from tests.factories import assert_problem, image_bytes
from tests.integration.bodies.conftest import Asgi, Held, Serve

pytestmark = pytest.mark.anyio

TUS = {"Tus-Resumable": "1.0.0", "Content-Type": "application/offset+octet-stream"}


async def _uploads_of(asgi: Asgi, user_id: str) -> int:
    async with asgi.ctx.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(Upload).where(Upload.owner_id == user_id)
        )
    return int(count or 0)


async def test_a_refused_creation_with_upload_creates_nothing(serve: Serve) -> None:
    async with serve(uploads_per_user=1) as asgi:
        user = await asgi.user()
        data = image_bytes("PNG")
        slots: UploadSlots = asgi.app.state.upload_slots
        # The user's one slot is taken by another body in flight.
        with slots.hold(user.user_id, "198.51.100.7"):
            for _ in range(3):
                r = await asgi.client.post(
                    "/v1/tus/",
                    content=data,
                    headers={**TUS, **user.headers, "Upload-Length": str(len(data))},
                )
                assert_problem(r, 429, "too_many_uploads")
        # No upload row, no quota held for one: retries stacked up neither.
        assert await _uploads_of(asgi, user.user_id) == 0
        async with asgi.ctx.sessions() as session:
            held = await session.scalar(select(func.count()).select_from(QuotaReservation))
        assert held == 0


async def test_a_stalled_creation_with_upload_says_where_to_resume(serve: Serve) -> None:
    async with serve(body_idle_timeout=0.5, body_min_rate=0) as asgi:
        user = await asgi.user()
        data = image_bytes("PNG")
        held = Held(data[:100])  # then nothing: the client stalls
        with anyio.fail_after(10):
            r = await asgi.client.post(
                "/v1/tus/",
                content=held,
                headers={**TUS, **user.headers, "Upload-Length": str(len(data))},
            )
        assert_problem(r, 408, "upload_stalled")
        location = r.headers["location"]
        r = await asgi.client.head(location, headers={"Tus-Resumable": "1.0.0", **user.headers})
        assert r.status_code == 200, r.text
        assert r.headers["upload-offset"] == "100"


async def test_the_slot_is_released_once_the_body_is_in(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Taken before the upload is created, the slot still covers only the
    # body: the validation that follows does not count as an upload in flight.
    async with serve() as asgi:
        user = await asgi.user()
        slots: UploadSlots = asgi.app.state.upload_slots
        held: list[int] = []
        validate = services.validate_image

        async def watched(*args: Any, **kwargs: Any) -> Any:
            held.append(slots.users[user.user_id])
            return await validate(*args, **kwargs)

        monkeypatch.setattr(services, "validate_image", watched)
        data = image_bytes("PNG")
        r = await asgi.client.post(
            "/v1/tus/",
            content=data,
            headers={**TUS, **user.headers, "Upload-Length": str(len(data))},
        )
        assert r.status_code == 201, r.text
    assert held == [0]
