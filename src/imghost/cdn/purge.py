"""Carrying out a purge: the configured request and command for some images.

Each call must succeed (a 2xx answer, exit status 0) or the attempt fails
with :class:`PurgeFailed`, whose message says which call and how; the job
queue retries it with backoff and, out of attempts, keeps it ``dead`` with
that message. A retry repeats every call: purges are idempotent. Messages
never carry the headers (tokens) or the URL's query.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

import httpx

from imghost.cdn.config import CommandPurge, HttpPurge, PurgeConfig
from imghost.cdn.templates import batches, items, render, render_argv
from imghost.tls.contexts import client_context

# How much of an answer's body or a command's output a failure quotes.
QUOTE = 300


class PurgeFailed(Exception):
    """One purge call did not succeed."""


def _shown(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text[:QUOTE] + ("…" if len(text) > QUOTE else "")


async def purge(config: PurgeConfig, image_ids: Sequence[str]) -> int:
    """Every call of the configured purge for ``image_ids``; the number made."""
    calls = 0
    if config.http is not None:
        calls += await _http(config, config.http, image_ids)
    if config.command is not None:
        calls += await _command(config, config.command, image_ids)
    return calls


async def _http(config: PurgeConfig, http: HttpPurge, image_ids: Sequence[str]) -> int:
    parts = batches(http.shape, items(http.shape.level, image_ids, config.base_url), config.batch)
    async with httpx.AsyncClient(
        timeout=config.timeout,
        follow_redirects=False,
        trust_env=False,
        verify=client_context(config.ca_file),
    ) as client:
        for part in parts:
            url = render(http.url, part, "words")
            headers = {k: render(v, part, "words") for k, v in http.headers.items()}
            body = render(http.body, part, "json").encode() if http.body else None
            try:
                answer = await client.request(http.method, url, headers=headers, content=body)
            except httpx.HTTPError as exc:
                raise PurgeFailed(
                    f"CDN purge {http.method} {_shown(url)} failed: {type(exc).__name__}: {exc}"
                ) from None
            if not 200 <= answer.status_code < 300:
                raise PurgeFailed(
                    f"CDN purge {http.method} {_shown(url)} answered {answer.status_code}: "
                    f"{_quote(answer.text)}"
                )
    return len(parts)


async def _command(config: PurgeConfig, command: CommandPurge, image_ids: Sequence[str]) -> int:
    parts = batches(
        command.shape, items(command.shape.level, image_ids, config.base_url), config.batch
    )
    for part in parts:
        argv = render_argv(command.argv, part)
        await _run(argv, seconds=config.timeout)
    return len(parts)


async def _run(argv: list[str], *, seconds: float) -> None:
    """Run ``argv`` without a shell; PurgeFailed unless it exits 0 in time."""
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise PurgeFailed(f"CDN purge command {argv[0]!r} could not start: {exc}") from None
    try:
        async with asyncio.timeout(seconds):
            out, err = await process.communicate()
    except BaseException as exc:  # too slow, or the job cancelled: the command goes too
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        if isinstance(exc, TimeoutError):
            raise PurgeFailed(
                f"CDN purge command {argv[0]!r} took longer than {seconds} s"
            ) from None
        raise
    if process.returncode != 0:
        said = _quote((err or out).decode(errors="replace"))
        raise PurgeFailed(
            f"CDN purge command {argv[0]!r} exited with status {process.returncode}: {said}"
        )
