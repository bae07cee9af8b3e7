"""Requests per second of the API processes, with 1 API process and then with 2
(and N), under the same closed-loop load: views through the edge (its cache
answers most), views straight to the API processes, and direct uploads.

Views are driven by wrk (a Python client tops out near 150 req/s here, far
below one API process), one wrk per API process for the direct figure; uploads
by httpx, whose cost per request is small beside an upload's.

No target: every server and the load generator share the machine's cores, so a
second API process gains only the CPU the others leave.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable

import httpx

from bench import wrk
from bench.cluster.load import PASSWORD, unique_image
from imghost.testing.cluster import Cluster

CONCURRENCY = 16


async def _user(http: httpx.AsyncClient) -> dict[str, str]:
    name = f"tput_{random.randrange(1 << 30):x}"
    email = f"{name}@example.com"
    r = await http.post(
        "/v1/auth/signup", json={"username": name, "email": email, "password": PASSWORD}
    )
    r.raise_for_status()
    r = await http.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['accessToken']}"}


async def _images(http: httpx.AsyncClient, auth: dict[str, str], count: int) -> list[str]:
    """Public images, ready (processed), to view."""
    rng = random.Random(7)
    ids = []
    for _ in range(count):
        data, fmt = unique_image(rng)
        r = await http.post(
            "/v1/images",
            headers=auth,
            data={"visibility": "public"},
            files={"file": (f"t.{fmt}", data, f"image/{fmt}")},
        )
        r.raise_for_status()
        ids.append(r.json()["imageId"])
    deadline = time.monotonic() + 120
    for image_id in ids:
        while (await http.get(f"/v1/images/{image_id}", headers=auth)).json()["status"] != "ready":
            if time.monotonic() > deadline:
                raise TimeoutError(f"{image_id} never became ready")
            await asyncio.sleep(0.2)
    return ids


async def _closed_loop(seconds: float, request: Callable[[], Awaitable[httpx.Response]]) -> float:
    """``CONCURRENCY`` loops sending ``request()`` back to back: answers/s (2xx)."""
    done = 0
    stop = time.monotonic() + seconds

    async def loop() -> None:
        nonlocal done
        while time.monotonic() < stop:
            r = await request()
            if r.is_success:
                done += 1

    start = time.monotonic()
    await asyncio.gather(*(loop() for _ in range(CONCURRENCY)))
    return done / (time.monotonic() - start)


async def _wrk(urls: list[str], seconds: float) -> float:
    """One wrk per URL at once (CONCURRENCY connections shared out): total req/s."""
    config = wrk.WrkConfig(
        threads=1, connections=max(CONCURRENCY // len(urls), 1), duration=max(int(seconds), 1)
    )
    found = await asyncio.gather(*(asyncio.to_thread(wrk.run, url, config) for url in urls))
    return sum(result.requests_per_s for result in found)


async def measure(cluster: Cluster, seconds: float) -> dict[str, float]:
    """req/s with the API processes now alive (the edge skips the others)."""
    live = [api.url for api in cluster.apis if api.alive]
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=cluster.edge_url, timeout=30, limits=limits) as edge:
        auth = await _user(edge)
        ids = await _images(edge, auth, 1)
        view = f"/images/{ids[0]}"
        rng = random.Random(11)
        bodies = [unique_image(rng) for _ in range(4000)]
        upload = iter(bodies)

        def post() -> Awaitable[httpx.Response]:
            data, fmt = next(upload)
            return edge.post(
                "/v1/images",
                headers=auth,
                data={"visibility": "public"},
                files={"file": (f"t.{fmt}", data, f"image/{fmt}")},
            )

        return {
            "view_edge": round(await _wrk([f"{cluster.edge_url}{view}"], seconds), 1),
            "view_direct": round(await _wrk([f"{url}{view}" for url in live], seconds), 1),
            "upload": round(await _closed_loop(seconds, post), 1),
        }


async def scaling(cluster: Cluster, seconds: float) -> list[dict[str, object]]:
    """The same load with 1, 2 (and all) API processes; the others stopped meanwhile."""
    counts = sorted({1, min(2, len(cluster.apis)), len(cluster.apis)})
    rows: list[dict[str, object]] = []
    for n in counts:
        for i, api in enumerate(cluster.apis):
            if i < n and not api.alive:
                await asyncio.to_thread(api.start)
            elif i >= n and api.alive:
                await asyncio.to_thread(api.stop)
        figures = await measure(cluster, seconds)
        rows.append(
            {
                "api_processes": n,
                **{f"{k}_per_s": v for k, v in figures.items()},
                **{f"{k}_per_s_per_process": round(v / n, 1) for k, v in figures.items()},
            }
        )
    for api in cluster.apis:
        if not api.alive:
            await asyncio.to_thread(api.start)
    return rows
