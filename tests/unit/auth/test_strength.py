"""zxcvbn judges account passwords; it sees a bounded prefix."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from zxcvbn import zxcvbn

from imghost.auth import strength
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


def test_long_inputs_are_judged_on_a_bounded_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    # zxcvbn's time grows with the input's length, so it sees a prefix only:
    # asserted as what it is given, not as a wall time a loaded machine can exceed.
    judged: list[int] = []

    def spy(password: str, user_inputs: list[str] | None = None) -> Any:
        judged.append(len(password))
        return zxcvbn(password, user_inputs=user_inputs)

    monkeypatch.setattr(strength, "zxcvbn", spy)
    _check("violet lantern orbit " + "aB3$x" * 200)
    with pytest.raises(AppError):
        _check("a" * 1024)
    assert judged == [strength.JUDGED_LENGTH, strength.JUDGED_LENGTH]
