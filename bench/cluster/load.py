"""The load generator: a few dozen asyncio clients, each its own user at its own
address, mixing direct and tus uploads, views through the edge, listings, searches,
share links and deletes.

Clients retry as a well-behaved client does: connection errors, 5xx and 429 (its
``Retry-After``) with backoff, until the operation succeeds or its time is up.
Every attempt is recorded (when it started and ended, what it got), so that the
chaos run can tell which errors fell in which failure's window; every
acknowledged upload is recorded with the SHA-256 of what was sent.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import os
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from PIL import Image

PASSWORD = "cluster-load-Password-7f3k9"
WORDS = ("harbour", "meadow", "granite", "lantern", "orchard", "glacier", "cobalt", "ember")
# An operation's attempts stop after this long (a well-behaved client gives up): past
# the tus write lease (60 s), which a PATCH cut off by a crash or a database restart
# leaves held (423 upload_locked until it lapses).
OP_DEADLINE = 90.0
# Operations and their weights in the mix.
MIX: dict[str, int] = {
    "upload": 14,
    "tus_upload": 8,
    "view_edge": 40,
    "thumb_edge": 10,
    "listing": 10,
    "search": 8,
    "share": 5,
    "delete": 5,
}


@dataclass
class Attempt:
    """One HTTP request: ``status`` 0 for a connection error (no answer)."""

    op: str
    start: float
    end: float
    status: int
    code: str = ""


@dataclass
class Ack:
    """An upload the service acknowledged: what was sent, and where it went."""

    image_id: str
    sha256: str
    owner: int  # the client's index
    via: str  # upload or tus_upload
    at: float
    # Picked for deletion: no operation uses it from then on. ``deleted`` once the
    # service has said so; a delete that never got an answer leaves it unknown.
    deleting: bool = False
    deleted: bool = False


@dataclass
class Op:
    """One operation, however many attempts it took."""

    name: str
    start: float
    end: float
    ok: bool
    attempts: int
    status: int


@dataclass
class Record:
    t0: float = field(default_factory=time.monotonic)
    attempts: list[Attempt] = field(default_factory=list)
    ops: list[Op] = field(default_factory=list)
    acks: dict[str, Ack] = field(default_factory=dict)
    tokens: dict[int, str] = field(default_factory=dict)  # each client's access token

    def now(self) -> float:
        """Seconds since the load began (every timestamp here is one of these)."""
        return time.monotonic() - self.t0


class Retryable(Exception):
    """An answer a client retries: 5xx, 429 or no answer."""

    def __init__(self, status: int, retry_after: float | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.retry_after = retry_after


class Refused(Exception):
    """An answer the operation cannot go on from (a 4xx other than 429)."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"{status}: {body[:200]}")
        self.status = status


def unique_image(rng: random.Random) -> tuple[bytes, str]:
    """A small JPEG or PNG no other upload has (noise: never a duplicate)."""
    w, h = rng.randint(48, 160), rng.randint(48, 120)
    img = Image.frombytes("RGB", (w, h), rng.randbytes(w * h * 3))
    buf = io.BytesIO()
    fmt = rng.choice(("JPEG", "PNG"))
    img.save(buf, fmt)
    return buf.getvalue(), fmt.lower()


@dataclass
class Client:
    """One user, at its own address (the edge passes it on in X-Forwarded-For)."""

    index: int
    http: httpx.AsyncClient
    record: Record
    stop: asyncio.Event
    rng: random.Random
    token: str = ""
    user_id: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"10.77.{self.index // 250}.{self.index % 250 + 1}"

    async def request(
        self, op: str, method: str, url: str, anon: bool = False, **kwargs: Any
    ) -> httpx.Response:
        """One attempt, recorded; raises Retryable for what a client retries.
        ``anon``: without the bearer token (the edge caches only such views)."""
        headers = {
            "X-Forwarded-For": self.address,
            **({} if anon else self.headers),
            **kwargs.pop("headers", {}),
        }
        start = self.record.now()
        try:
            response = await self.http.request(method, url, headers=headers, **kwargs)
        except httpx.TransportError:
            self.record.attempts.append(Attempt(op, start, self.record.now(), 0))
            raise Retryable(0) from None
        code = ""
        problem = response.headers.get("content-type", "").startswith("application/problem+json")
        if problem and response.content:  # a HEAD's problem has headers only
            code = str(response.json().get("code", ""))
        self.record.attempts.append(
            Attempt(op, start, self.record.now(), response.status_code, code)
        )
        if response.status_code >= 500 or response.status_code == 429:
            after = response.headers.get("retry-after")
            raise Retryable(response.status_code, float(after) if after else None)
        return response

    async def retrying(self, op: str, work: Callable[[], Awaitable[bool]]) -> None:
        """Run ``work`` (one try of the operation) until it succeeds or time is up.
        ``work`` answers False for an operation with nothing to do (no image yet)."""
        start = self.record.now()
        attempts, status, ok = 0, 0, False
        delay = 0.1
        while True:
            attempts += 1
            try:
                if not await work():
                    return
                ok = True
                break
            except Retryable as exc:
                status = exc.status
                if self.record.now() - start > OP_DEADLINE:
                    break
                wait = exc.retry_after if exc.retry_after is not None else delay
                await asyncio.sleep(min(wait, 5.0) * (0.5 + self.rng.random()))
                delay = min(delay * 2, 2.0)
            except Refused as exc:
                status = exc.status
                break
        self.record.ops.append(Op(op, start, self.record.now(), ok, attempts, status))

    # --- setup --------------------------------------------------------------

    async def sign_up(self) -> None:
        name = f"load{self.index}_{uuid.uuid4().hex[:6]}"
        email = f"{name}@example.com"

        async def signup() -> bool:
            r = await self.request(
                "signup",
                "POST",
                "/v1/auth/signup",
                json={"username": name, "email": email, "password": PASSWORD},
            )
            if r.status_code not in (201, 409):  # 409: a retry after a lost answer
                raise Refused(r.status_code, r.text)
            return True

        async def login() -> bool:
            r = await self.request(
                "login", "POST", "/v1/auth/login", json={"email": email, "password": PASSWORD}
            )
            if r.status_code != 200:
                raise Refused(r.status_code, r.text)
            self.token = r.json()["accessToken"]
            return True

        await self.retrying("signup", signup)
        await self.retrying("login", login)
        if not self.token:
            raise RuntimeError(f"client {self.index} could not sign in")
        self.headers = {"Authorization": f"Bearer {self.token}"}
        self.record.tokens[self.index] = self.token

    # --- operations ---------------------------------------------------------

    def _mine(self) -> list[Ack]:
        return [a for a in self.record.acks.values() if a.owner == self.index and not a.deleting]

    def _anyones(self) -> Ack | None:
        live = [a for a in self.record.acks.values() if not a.deleting]
        return self.rng.choice(live) if live else None

    def _ack(self, image_id: str, data: bytes, via: str) -> None:
        digest = hashlib.sha256(data).hexdigest()
        self.record.acks[image_id] = Ack(image_id, digest, self.index, via, self.record.now())

    def _fields(self) -> dict[str, str]:
        return {"visibility": "public", "tags": ",".join(self.rng.sample(WORDS, 2))}

    async def upload(self) -> None:
        data, fmt = unique_image(self.rng)
        fields = self._fields()

        async def once() -> bool:
            r = await self.request(
                "upload",
                "POST",
                "/v1/images",
                data=fields,
                files={"file": (f"load.{fmt}", data, f"image/{fmt}")},
            )
            # 200: a retry whose first try was stored (the duplicate check answers it).
            if r.status_code not in (200, 201):
                raise Refused(r.status_code, r.text)
            self._ack(r.json()["imageId"], data, "upload")
            return True

        await self.retrying("upload", once)

    async def tus_upload(self) -> None:
        """Creation, then the file in two PATCHes; after a failure the offset is asked
        for again (HEAD) and the upload resumed from it."""
        data, fmt = unique_image(self.rng)
        fields = self._fields()
        meta = {"filename": f"load.{fmt}", **fields}
        header = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in meta.items())
        tus = {"Tus-Resumable": "1.0.0"}
        location = ""

        async def once() -> bool:
            nonlocal location
            if not location:
                r = await self.request(
                    "tus_upload",
                    "POST",
                    "/v1/tus/",
                    headers={**tus, "Upload-Length": str(len(data)), "Upload-Metadata": header},
                )
                if r.status_code != 201:
                    raise Refused(r.status_code, r.text)
                location = r.headers["location"]
                offset = 0
            else:
                r = await self.request("tus_upload", "HEAD", location, headers=tus)
                if r.status_code != 200:
                    raise Refused(r.status_code, r.text)
                offset = int(r.headers["upload-offset"])
            half = len(data) // 2
            # All bytes there but no image: the last PATCH's answer was lost or it
            # failed after the bytes (a 5xx). An empty PATCH at the end finishes it.
            finish = offset == len(data)
            while offset < len(data) or finish:
                finish = False
                end = half if offset < half else len(data)
                r = await self.request(
                    "tus_upload",
                    "PATCH",
                    location,
                    headers={
                        **tus,
                        "Upload-Offset": str(offset),
                        "Content-Type": "application/offset+octet-stream",
                    },
                    content=data[offset:end],
                )
                if r.status_code in (409, 423):  # another try of ours got there first
                    raise Retryable(r.status_code)
                if r.status_code != 204:
                    raise Refused(r.status_code, r.text)
                offset = int(r.headers["upload-offset"])
            upload_id = location.rstrip("/").rsplit("/", 1)[-1]
            r = await self.request("tus_upload", "GET", f"/v1/uploads/{upload_id}")
            if r.status_code != 200 or not r.json().get("imageId"):
                raise Refused(r.status_code, r.text)
            self._ack(r.json()["imageId"], data, "tus_upload")
            return True

        await self.retrying("tus_upload", once)

    async def view_edge(self, suffix: str = "") -> None:
        """An anonymous view through the edge (its cache serves repeats)."""
        ack = self._anyones()
        if ack is None:
            return
        op = "thumb_edge" if suffix else "view_edge"

        async def once() -> bool:
            r = await self.request(op, "GET", f"/images/{ack.image_id}{suffix}", anon=True)
            # 404: still processing (only its owner sees it) or deleted meanwhile.
            if r.status_code not in (200, 404):
                raise Refused(r.status_code, r.text)
            return True

        await self.retrying(op, once)

    async def listing(self) -> None:
        async def once() -> bool:
            r = await self.request("listing", "GET", "/v1/images", params={"user": self.user_id})
            if r.status_code != 200:
                raise Refused(r.status_code, r.text)
            return True

        await self.retrying("listing", once)

    async def search(self) -> None:
        word = self.rng.choice(WORDS)

        async def once() -> bool:
            r = await self.request("search", "GET", "/v1/images", params={"q": word, "limit": 10})
            if r.status_code != 200:
                raise Refused(r.status_code, r.text)
            return True

        await self.retrying("search", once)

    async def share(self) -> None:
        """A share link to one of ours, opened, and the image viewed with its grant."""
        mine = self._mine()
        if not mine:
            return
        ack = self.rng.choice(mine)
        link = ""

        async def once() -> bool:
            nonlocal link
            if not link:
                r = await self.request(
                    "share",
                    "POST",
                    f"/v1/images/{ack.image_id}/links",
                    json={"permissions": ["view"]},
                )
                if r.status_code != 201:
                    raise Refused(r.status_code, r.text)
                link = r.json()["linkId"]
            r = await self.request("share", "POST", f"/v1/links/{link}/open", anon=True, json={})
            if r.status_code == 409:  # link_target_processing: not yet, and fine
                return True
            if r.status_code != 200:
                raise Refused(r.status_code, r.text)
            token = r.json()["token"]
            r = await self.request(
                "share", "GET", f"/images/{ack.image_id}", params={"share": token}, anon=True
            )
            if r.status_code != 200:
                raise Refused(r.status_code, r.text)
            return True

        await self.retrying("share", once)

    async def delete(self) -> None:
        """Half to the trash, half purged at once."""
        mine = self._mine()
        if len(mine) < 3:  # keep some for views and shares
            return
        ack = self.rng.choice(mine)
        ack.deleting = True  # from now on nobody picks it
        params = {"permanent": "true"} if self.rng.random() < 0.5 else {}
        tries = 0

        async def once() -> bool:
            nonlocal tries
            tries += 1
            r = await self.request("delete", "DELETE", f"/v1/images/{ack.image_id}", params=params)
            # A 404 on a retry: an earlier try was applied, its answer lost (a killed
            # API process, the database restart after the commit).
            if r.status_code in (200, 202) or (r.status_code == 404 and tries > 1):
                ack.deleted = True
                return True
            raise Refused(r.status_code, r.text)

        await self.retrying("delete", once)

    async def run(self) -> None:
        ops = list(MIX)
        weights = list(MIX.values())
        actions: dict[str, Callable[[], Awaitable[None]]] = {
            "upload": self.upload,
            "tus_upload": self.tus_upload,
            "view_edge": self.view_edge,
            "thumb_edge": lambda: self.view_edge("/thumb.jpg"),
            "listing": self.listing,
            "search": self.search,
            "share": self.share,
            "delete": self.delete,
        }
        while not self.stop.is_set():
            await actions[self.rng.choices(ops, weights)[0]]()


async def run_load(
    base_url: str,
    clients: int,
    duration: float,
    record: Record,
    started: asyncio.Event | None = None,
    seed: int | None = None,
) -> None:
    """``clients`` users for ``duration`` seconds through ``base_url`` (the edge).
    The users sign up first; then the record's clock starts and ``started`` is set."""
    rng = random.Random(seed if seed is not None else int.from_bytes(os.urandom(4), "big"))
    stop = asyncio.Event()
    limits = httpx.Limits(max_connections=clients * 2, max_keepalive_connections=clients * 2)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as http:
        users = [Client(i, http, record, stop, random.Random(rng.random())) for i in range(clients)]
        await asyncio.gather(*(u.sign_up() for u in users))
        for u in users:
            u.user_id = await _me(u)
        record.t0 = time.monotonic()
        if started is not None:
            started.set()
        tasks = [asyncio.create_task(u.run()) for u in users]
        await asyncio.sleep(duration)
        stop.set()
        await asyncio.gather(*tasks)


async def _me(client: Client) -> str:
    user_id = ""

    async def once() -> bool:
        nonlocal user_id
        r = await client.request("me", "GET", "/v1/users/me")
        if r.status_code != 200:
            raise Refused(r.status_code, r.text)
        user_id = r.json()["userId"]
        return True

    await client.retrying("me", once)
    return user_id
