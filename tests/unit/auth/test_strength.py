"""zxcvbn judges account passwords; it sees a bounded prefix."""

from __future__ import annotations

import time

import anyio
import pytest

from imghost.auth.strength import check_password_strength
from imghost.errors import AppError


def _check(password: str, *inputs: str) -> None:
    anyio.run(lambda: check_password_strength(password, *inputs))


def test_common_and_personal_passwords_are_weak() -> None:
    for password in ("password12", "short", "iloveyou2026"):
        with pytest.raises(AppError) as weak:
            _check(password)
        assert weak.value.status == 422 and weak.value.code == "weak_password"
    _check("zqxvplmkw-2026")  # strong for a stranger...
    with pytest.raises(AppError):  # ...weak for the user of that name
        _check("zqxvplmkw-2026", "zqxvplmkw", "zqxvplmkw@example.com")


def test_long_inputs_are_judged_quickly() -> None:
    start = time.perf_counter()
    _check("violet lantern orbit " + "aB3$x" * 200)
    with pytest.raises(AppError):
        _check("a" * 1024)
    assert time.perf_counter() - start < 5
