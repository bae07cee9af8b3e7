"""The attacks of tests/e2e/test_hostile_load.py, one coroutine each.

Each runs from ATTACKER_ADDRESS until the monotonic time `until` (or its own cap on
count and size) and reports what the attacker got: statuses, closed or still pending
connections. They judge nothing; the tests do.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from tests.e2e.hostile import (
    ATTACKER_ADDRESS,
    CLOSED,
    MIB,
    REQUEST_TIMEOUT,
    AttackReport,
    NormalUser,
    async_client,
    client,
    gather_outcomes,
    hostile_gif,
    request_head,
    send,
    trickle,
)
from tests.e2e.service import ServiceProcess

OWNER_IMAGE_SIDE = 600  # the owner's public image: a ~1.1 MB noise PNG


@dataclass
class Target:
    """The running service and the accounts the attacks aim at or use."""

    service: ServiceProcess
    owner: NormalUser
    owner_image: str
    victim: NormalUser
    attacker: NormalUser


def usage(base_url: str, user: NormalUser) -> dict[str, Any]:
    """The user's storage usage (`GET /v1/users/me/usage`), asked from their address."""
    with client(base_url, user.address) as c:
        r = c.get("/v1/users/me/usage", headers={"Authorization": f"Bearer {user.token}"})
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


# --- 1. huge JSON bodies ------------------------------------------------------------

JSON_BODY = 50 * MIB


def _huge_signup(chunked: bool) -> tuple[dict[str, str], Iterator[bytes]]:
    head = b'{"username": "'
    tail = b'", "email": "huge@example.com", "password": "correct horse battery"}'
    block = b"a" * MIB

    def parts() -> Iterator[bytes]:
        yield head
        for _ in range(JSON_BODY // MIB):
            yield block
        yield tail

    if not chunked:
        return {"Content-Length": str(len(head) + JSON_BODY + len(tail))}, parts()

    def framed() -> Iterator[bytes]:
        for p in parts():
            yield b"%x\r\n%s\r\n" % (len(p), p)
        yield b"0\r\n\r\n"

    return {"Transfer-Encoding": "chunked"}, framed()


async def huge_json(target: Target, until: float) -> AttackReport:
    report = AttackReport("huge JSON bodies")
    port = target.service.port
    rounds = 0
    while time.monotonic() < until and rounds < 3:
        rounds += 1
        sends = []
        for chunked in (False, False, True):
            headers, body = _huge_signup(chunked)
            head = request_head(
                "POST", "/v1/auth/signup", port, {"Content-Type": "application/json", **headers}
            )
            sends.append(send(port, head, body, wait=REQUEST_TIMEOUT))
        report.outcomes += await gather_outcomes(sends)
    await asyncio.sleep(max(0.0, until - time.monotonic()))
    report.notes.append(f"{rounds} rounds of 3 × {JSON_BODY // MIB} MiB")
    return report


# --- 2. huge and slow headers, idle connections -------------------------------------

IDLE_CONNECTIONS = 200
SLOW_HEADERS = 20
HALF_SENT_HEADERS = 4
HEADER_BYTES = 8 * MIB


async def headers_attack(target: Target, until: float) -> AttackReport:
    report = AttackReport("huge/slow headers, idle connections")
    port = target.service.port
    start = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
    big = b"X-Big: " + b"a" * HEADER_BYTES

    def stay(seconds: float) -> float:
        return max(0.1, until - time.monotonic() + seconds)

    async def idle() -> Any:
        return await send(port, b"", (), wait=stay(0))

    async def slow() -> Any:
        return await send(port, start, trickle(b"X-Slow: 1\r\n", 0.5, until), wait=0.1)

    async def half_sent() -> Any:
        return await send(port, start, [big], wait=stay(0))

    async def complete() -> Any:
        return await send(port, start, [big, b"\r\n\r\n"], wait=REQUEST_TIMEOUT)

    tasks = [idle() for _ in range(IDLE_CONNECTIONS)]
    tasks += [slow() for _ in range(SLOW_HEADERS)]
    tasks += [half_sent() for _ in range(HALF_SENT_HEADERS)]
    tasks.append(complete())
    report.outcomes = await gather_outcomes(tasks)
    report.notes.append(
        f"{IDLE_CONNECTIONS} idle, {SLOW_HEADERS} slow, {HALF_SENT_HEADERS} half-sent "
        f"{HEADER_BYTES // MIB} MiB headers, 1 complete {HEADER_BYTES // MIB} MiB header "
        f"answered {report.outcomes[-1]}"
    )
    return report


# --- 3. slow upload bodies ----------------------------------------------------------

SLOW_BODIES = 24


async def slow_bodies(target: Target, until: float) -> AttackReport:
    report = AttackReport("slow upload bodies")
    port = target.service.port
    boundary = "sLoWbOdY"
    head = request_head(
        "POST",
        "/v1/images",
        port,
        {
            "Authorization": f"Bearer {target.attacker.token}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(MIB),
        },
    )
    part = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="s.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()

    async def one() -> Any:
        return await send(port, head + part, trickle(b"x", 0.5, until), wait=0.1)

    report.outcomes = await gather_outcomes(one() for _ in range(SLOW_BODIES))
    return report


# --- 4. login flood -----------------------------------------------------------------

LOGIN_ATTEMPTS = 400
LOGIN_CONCURRENCY = 8
LOGIN_GRACE = 10.0


async def login_flood(target: Target, until: float) -> AttackReport:
    report = AttackReport("login flood")
    attempts = iter(range(LOGIN_ATTEMPTS))
    email = target.victim.email

    def more() -> bool:
        # The flood lasts the phase, and on until the first throttled answer (at most
        # LOGIN_GRACE seconds more): a slow machine hashes few passwords in a phase.
        now = time.monotonic()
        return now < until or (429 not in report.outcomes and now < until + LOGIN_GRACE)

    async def worker(c: httpx.AsyncClient) -> None:
        for n in attempts:
            if not more():
                return
            try:
                if n % 2:
                    r = await c.post("/v1/auth/login", json={"email": email, "password": f"no{n}"})
                else:
                    r = await c.post(
                        "/v1/auth/token",
                        data={"username": email, "password": f"no{n}", "grant_type": "password"},
                    )
                report.outcomes.append(r.status_code)
            except httpx.HTTPError:
                report.outcomes.append(CLOSED)

    async with async_client(target.service.url, ATTACKER_ADDRESS) as c:
        await asyncio.gather(*(worker(c) for _ in range(LOGIN_CONCURRENCY)))
    await asyncio.sleep(max(0.0, until - time.monotonic()))
    return report


# --- 5. transform flood -------------------------------------------------------------

TRANSFORMS = 40


async def transform_flood(target: Target, until: float) -> AttackReport:
    report = AttackReport("transform flood")
    widths = iter(range(OWNER_IMAGE_SIDE, OWNER_IMAGE_SIDE - TRANSFORMS, -1))

    async def worker(c: httpx.AsyncClient) -> None:
        for w in widths:
            if time.monotonic() >= until:
                return
            try:
                r = await c.get(f"/images/{target.owner_image}/t/w_{w}.png")
                report.outcomes.append(r.status_code)
            except httpx.HTTPError:
                report.outcomes.append(CLOSED)

    before = usage(target.service.url, target.owner)
    async with async_client(target.service.url, ATTACKER_ADDRESS) as c:
        await asyncio.gather(*(worker(c) for _ in range(4)))
    after = usage(target.service.url, target.owner)
    report.notes.append(
        f"owner's usage {before['percentUsed']}% -> {after['percentUsed']}% of the quota"
    )
    await asyncio.sleep(max(0.0, until - time.monotonic()))
    return report


# --- 6. hostile GIF -----------------------------------------------------------------

GIF_UPLOADS = 2


async def gif_attack(target: Target, until: float) -> AttackReport:
    report = AttackReport("hostile GIF, abandoned")
    port = target.service.port
    gif = hostile_gif()
    boundary = "gIfBoMb"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.gif"\r\n'
            "Content-Type: image/gif\r\n\r\n"
        ).encode()
        + gif
        + f"\r\n--{boundary}--\r\n".encode()
    )
    head = request_head(
        "POST",
        "/v1/images",
        port,
        {
            "Authorization": f"Bearer {target.attacker.token}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(body)),
        },
    )
    # The whole file is sent, then the client waits a moment and goes away.
    report.outcomes = await gather_outcomes(
        send(port, head, [body], wait=1.5) for _ in range(GIF_UPLOADS)
    )
    report.notes.append(f"{len(gif) // 1024} KiB GIF × {GIF_UPLOADS}")
    await asyncio.sleep(max(0.0, until - time.monotonic()))
    return report
