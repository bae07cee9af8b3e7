"""The capacity section's in-process part: seed the data, count each route kind's SQL
statements, and time the worker's processing of phone photos.

The app runs in this process behind httpx's ASGI transport, so each request's
statements can be told from everything else (bench.capacity_statements). Its
background worker is off: the section runs the queued jobs itself, one at a
time (the worker at concurrency 1), and counts their statements and CPU time.
The data it leaves (an account, public and private images, all processed) is
what the API process of the load part then serves, from the same database and
blob store.
"""

from __future__ import annotations

import base64
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from sqlalchemy import func, select

from bench import capacity_statements as statements
from imghost import composition
from imghost.app import create_app
from imghost.context import AppContext
from imghost.images.models import ImageVersion
from imghost.settings import Settings

PASSWORD = "capacity-bench-password-1"
# Every image of the seed carries these: listings and searches have matches to page.
TITLE_WORDS = ("harbour", "sunset", "market", "bridge", "garden")
SEARCH_WORD = "harbour"
PUBLIC_IMAGES = 24
# Each route kind's statements are counted this many times (median shown); uploads
# of a 12 MP photo cost a decode each, and count the same every time after the first.
REPEATS = 3
UPLOAD_REPEATS = 2


class SeedError(RuntimeError):
    """The in-process app answered something unexpected."""


@dataclass
class Seed:
    """What the load part needs: who, which images, the credentials."""

    user_id: str
    token: str
    public_id: str  # a small public JPEG, processed
    private_id: str  # the same bytes, private, processed
    public_ids: list[str] = field(default_factory=list)

    def kinds(self) -> dict[str, tuple[str, dict[str, str]]]:
        """Route kind → (path, headers) of the requests the load generator repeats."""
        owner = {"Authorization": f"Bearer {self.token}"}
        return {
            "view_cached": (f"/images/{self.public_id}", {}),
            # A no-cache request reads the delivery facts from the database (see
            # docs/OPERATIONS.md, "The origin's hot path"): a view the process has
            # not seen within IMGHOST_DELIVERY_FACTS_TTL.
            "view_uncached": (f"/images/{self.public_id}", {"Cache-Control": "no-cache"}),
            "view_private": (f"/images/{self.private_id}", owner),
            "metadata": (f"/v1/images/{self.public_id}", {}),
            "listing": (f"/v1/users/{self.user_id}/images?limit=20", {}),
            "search": (f"/v1/images?q={SEARCH_WORD}&limit=20", {}),
        }


@dataclass
class Processed:
    """The worker's run over ``images`` uploads of one kind of photo."""

    key: str
    images: int
    wall_s: float
    cpu_s: float  # this process (all threads) and its pixel processes
    statements: int
    jobs: int
    # Bytes stored per image: the original, and what processing added (presets, a
    # GPS-free copy).
    original_bytes: int = 0
    derived_bytes: int = 0

    def as_json(self) -> dict[str, object]:
        timed = self.wall_s > 0  # not timed where another server shares the process
        return {
            "images": self.images,
            "jobs": self.jobs,
            "wall_s": round(self.wall_s, 3) if timed else None,
            "cpu_s": round(self.cpu_s, 3) if timed else None,
            "images_per_s": round(self.images / self.wall_s, 3) if timed else None,
            "cpu_s_per_image": round(self.cpu_s / self.images, 3) if timed else None,
            "statements_per_image": round(self.statements / self.images, 1),
            "original_bytes": self.original_bytes,
            "derived_bytes": self.derived_bytes,
        }


@dataclass
class InprocResult:
    seed: Seed | None = None
    # route kind → statements of each repeat (total), and the kinds of the last one
    statements: dict[str, list[int]] = field(default_factory=dict)
    statement_kinds: dict[str, dict[str, int]] = field(default_factory=dict)
    processed: dict[str, Processed] = field(default_factory=dict)

    def statements_json(self) -> dict[str, object]:
        return {
            kind: {
                "median": statistics.median(counts),
                "first": counts[0],
                "runs": counts,
                "by_kind": self.statement_kinds.get(kind, {}),
            }
            for kind, counts in self.statements.items()
        }


@dataclass(frozen=True)
class Photo:
    key: str  # "jpeg-12mp", "heic-12mp"
    path: Path
    content_type: str


def _cpu_seconds() -> float:
    """This process's CPU time (every thread) and its children's: the pixel pool."""
    me = psutil.Process()
    total = 0.0
    for member in [me, *me.children(recursive=True)]:
        try:
            times = member.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def _expect(response: httpx.Response, status: int, what: str) -> httpx.Response:
    if response.status_code != status:
        raise SeedError(f"{what}: HTTP {response.status_code}: {response.text[:300]}")
    return response


async def run(
    settings: Settings,
    small: bytes,
    photos: list[Photo],
    *,
    time_processing: bool,
    progress: Callable[[str], None],
) -> InprocResult:
    """Seed, count statements, process the photos; the app is shut down on return."""
    result = InprocResult()
    app = create_app(settings)
    with statements.listening():
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                ctx: AppContext = app.state.ctx
                progress("seed the account and images")
                seed = await _seed(client, small)
                await _process(ctx)
                result.seed = seed
                progress("count statements per route kind")
                await _count_reads(client, seed, result)
                # An upload's statements do not depend on the image's size: the small
                # JPEG spares a 12 MP decode per count, and its processing after.
                await _count_uploads(client, seed, small, result)
                # What the uploads above queued is processed before the timing.
                await _process(ctx)
                for photo in photos:
                    progress(f"process {photo.key} photos")
                    result.processed[photo.key] = await _time_processing(
                        client, ctx, seed, photo, time_processing
                    )
    return result


async def _seed(client: httpx.AsyncClient, small: bytes) -> Seed:
    name = "capacity"
    email = f"{name}@example.com"
    user = _expect(
        await client.post(
            "/v1/auth/signup", json={"username": name, "email": email, "password": PASSWORD}
        ),
        201,
        "sign up",
    ).json()
    tokens = _expect(
        await client.post("/v1/auth/login", json={"email": email, "password": PASSWORD}),
        200,
        "log in",
    ).json()
    headers = {"Authorization": f"Bearer {tokens['accessToken']}"}
    ids = []
    for i in range(PUBLIC_IMAGES + 1):
        visibility = "private" if i == PUBLIC_IMAGES else "public"
        words = f"{TITLE_WORDS[i % len(TITLE_WORDS)]} {SEARCH_WORD} {i}"
        created = _expect(
            await client.post(
                "/v1/images",
                headers=headers,
                data={
                    "title": words,
                    "tags": "city,travel",
                    "visibility": visibility,
                    "allowDuplicate": "true",
                },
                files={"file": (f"photo{i}.jpg", small, "image/jpeg")},
            ),
            201,
            "upload a seed image",
        ).json()
        ids.append(str(created["imageId"]))
    return Seed(
        user_id=str(user["userId"]),
        token=str(tokens["accessToken"]),
        public_id=ids[0],
        private_id=ids[-1],
        public_ids=ids[:-1],
    )


async def _process(ctx: AppContext) -> int:
    worker = composition.worker(ctx, concurrency=1, periodic=False)
    return await worker.run_until_idle(max_seconds=300)


async def _counted(
    result: InprocResult,
    kind: str,
    request: Callable[[], Awaitable[httpx.Response]],
    ok: int,
    repeats: int = REPEATS,
) -> None:
    counts = []
    last: Counter[str] = Counter()
    for _ in range(repeats):
        with statements.counting() as counter:
            _expect(await request(), ok, kind)
        counts.append(sum(counter.values()))
        last = counter
    result.statements[kind] = counts
    result.statement_kinds[kind] = dict(sorted(last.items()))


async def _count_reads(client: httpx.AsyncClient, seed: Seed, result: InprocResult) -> None:
    for kind, (path, headers) in seed.kinds().items():

        async def request(path: str = path, headers: dict[str, str] = headers) -> httpx.Response:
            return await client.get(path, headers=headers)

        await _counted(result, kind, request, 200)


async def _count_uploads(
    client: httpx.AsyncClient, seed: Seed, data: bytes, result: InprocResult
) -> None:
    owner = {"Authorization": f"Bearer {seed.token}"}

    async def direct() -> httpx.Response:
        return await client.post(
            "/v1/images",
            headers=owner,
            data={"allowDuplicate": "true"},
            files={"file": ("count.jpg", data, "image/jpeg")},
        )

    await _counted(result, "upload_direct", direct, 201, UPLOAD_REPEATS)

    async def tus() -> httpx.Response:
        """Creation, then the whole image in one PATCH (a phone photo is one chunk)."""
        meta = ",".join(
            f"{k} {base64.b64encode(v.encode()).decode()}"
            for k, v in (("filename", "count.jpg"), ("allowDuplicate", "true"))
        )
        tus = {"Tus-Resumable": "1.0.0"}
        created = _expect(
            await client.post(
                "/v1/tus/",
                headers={**owner, **tus, "Upload-Length": str(len(data)), "Upload-Metadata": meta},
            ),
            201,
            "tus create",
        )
        return await client.patch(
            created.headers["location"],
            headers={
                **owner,
                **tus,
                "Content-Type": "application/offset+octet-stream",
                "Upload-Offset": "0",
            },
            content=data,
        )

    await _counted(result, "upload_tus", tus, 204, UPLOAD_REPEATS)


PROCESSED_RUNS = 2  # photos of each kind processed one after another


async def _time_processing(
    client: httpx.AsyncClient, ctx: AppContext, seed: Seed, photo: Photo, timed: bool
) -> Processed:
    """Upload the photo ``PROCESSED_RUNS`` times (once where it is not timed: its
    statements are the same every time), then run the queue at concurrency 1."""
    data = photo.path.read_bytes()
    owner = {"Authorization": f"Bearer {seed.token}"}
    ids = []
    for _ in range(PROCESSED_RUNS if timed else 1):
        created = _expect(
            await client.post(
                "/v1/images",
                headers=owner,
                data={"allowDuplicate": "true"},
                files={"file": (photo.path.name, data, photo.content_type)},
            ),
            201,
            f"upload {photo.key}",
        ).json()
        ids.append(str(created["imageId"]))
    cpu, clock = _cpu_seconds(), time.perf_counter()
    with statements.counting() as counter:
        jobs = await _process(ctx)
    wall, cpu = time.perf_counter() - clock, _cpu_seconds() - cpu
    for image_id in ids:
        status = _expect(await client.get(f"/v1/images/{image_id}", headers=owner), 200, "status")
        if status.json()["status"] != "ready":
            raise SeedError(f"{photo.key} {image_id} is {status.json()['status']}, not ready")
    original, derived = await _stored_bytes(ctx, ids[0])
    return Processed(
        key=photo.key,
        images=len(ids),
        wall_s=wall if timed else 0.0,
        cpu_s=cpu if timed else 0.0,
        statements=sum(counter.values()),
        jobs=jobs,
        original_bytes=original,
        derived_bytes=derived,
    )


async def _stored_bytes(ctx: AppContext, image_id: str) -> tuple[int, int]:
    """(the original's bytes, every other stored version's) of one image."""
    async with ctx.sessions() as session:
        rows = (
            await session.execute(
                select(ImageVersion.kind, func.sum(ImageVersion.size))
                .where(ImageVersion.image_id == image_id)
                .group_by(ImageVersion.kind)
            )
        ).all()
    sizes = {kind: int(total or 0) for kind, total in rows}
    original = sizes.pop("original", 0)
    return original, sum(sizes.values())
