"""Correctness checks made along the way: a benchmark of wrong answers is worthless."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import httpx


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


@dataclass
class Checks:
    items: list[Check] = field(default_factory=list)

    def add(self, name: str, ok: bool, detail: str) -> bool:
        self.items.append(Check(name, ok, detail))
        return ok

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.items)

    def as_json(self) -> list[dict[str, object]]:
        return [c.as_json() for c in self.items]

    def get_returns(
        self, name: str, url: str, expected: bytes, content_type: str | None = "image/jpeg"
    ) -> bool:
        """An anonymous GET of ``url`` gives 200, ``content_type`` and exactly ``expected``.

        ``content_type=None`` skips the Content-Type check.
        """
        try:
            response = httpx.get(url, timeout=60.0)
        except httpx.HTTPError as exc:
            return self.add(name, False, f"GET failed: {exc!r}")
        problems = []
        if response.status_code != 200:
            problems.append(f"status {response.status_code}")
        got_type = response.headers.get("content-type", "")
        if content_type is not None and got_type.split(";")[0].strip() != content_type:
            problems.append(f"Content-Type {got_type!r}")
        if response.content != expected:
            problems.append(
                f"body differs ({len(response.content)} bytes, sha256 "
                f"{hashlib.sha256(response.content).hexdigest()[:12]}…)"
            )
        if problems:
            return self.add(name, False, ", ".join(problems))
        return self.add(
            name,
            True,
            f"200, {got_type}, {len(expected)} bytes, sha256 "
            f"{hashlib.sha256(expected).hexdigest()[:12]}… match",
        )
