"""Units of the account lifecycle: the last-use throttle, tokens, the settings check."""

from __future__ import annotations

import datetime as dt
from types import TracebackType
from typing import Any, cast

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imghost.accounts.models import User
from imghost.auth import config, onetime
from imghost.auth.last_use import LastUse
from imghost.auth.models import AccountToken
from imghost.auth.services import Actor
from imghost.settings import Settings, SettingsError

pytestmark = pytest.mark.anyio


class _Session:
    def __init__(self, log: list[str], fail: bool) -> None:
        self.log = log
        self.fail = fail

    async def __aenter__(self) -> _Session:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def execute(self, statement: Any) -> None:
        if self.fail:
            raise OSError("database unreachable")
        self.log.append(str(statement).split()[1])  # UPDATE <table>

    async def commit(self) -> None:
        self.log.append("commit")


class _Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def _recorder(log: list[str], clock: _Clock, fail: bool = False) -> LastUse:
    sessions = cast(async_sessionmaker[AsyncSession], lambda: _Session(log, fail))
    return LastUse(sessions, every=60.0, clock=clock)


def _actor(via: str, credential: str) -> Actor:
    user = User(id="u_1", username="ann", email="ann@example.com")
    return Actor(user, via, credential, "u_1", "public", False)  # type: ignore[arg-type]


async def test_last_use_is_written_at_most_once_a_period_per_credential() -> None:
    log: list[str] = []
    clock = _Clock()
    last_use = _recorder(log, clock)
    session, key = _actor("token", "ses_1"), _actor("api_key", "key_1")
    for _ in range(3):
        await last_use.seen(session, "10.0.0.1")
    await last_use.seen(key, "10.0.0.1")
    assert log == ["auth_sessions", "commit", "api_keys", "commit"]
    clock.now += 59
    await last_use.seen(session, "10.0.0.2")
    assert len(log) == 4
    clock.now += 1
    await last_use.seen(session, "10.0.0.2")
    assert log[4:] == ["auth_sessions", "commit"]


async def test_a_failed_last_use_write_does_not_fail_the_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log: list[str] = []
    await _recorder(log, _Clock(), fail=True).seen(_actor("token", "ses_1"), "10.0.0.1")
    assert log == []
    assert "could not record the last use of ses_1" in caplog.text


def _row(**changes: Any) -> AccountToken:
    values: dict[str, Any] = {
        "id": "atk_abc",
        "user_id": "u_1",
        "purpose": onetime.PASSWORD_RESET,
        "email": "ann@example.com",
        "expires_at": dt.datetime.now(dt.UTC),
    }
    return AccountToken(**{**values, **changes})


def test_a_token_is_bound_to_its_row_and_the_secret() -> None:
    token = onetime.token_for("s" * 32, _row())
    assert token.startswith("atk_abc.")
    assert token == onetime.token_for("s" * 32, _row())  # a retried e-mail sends the same
    assert token != onetime.token_for("t" * 32, _row())
    for other in ({"purpose": onetime.VERIFY_EMAIL}, {"user_id": "u_2"}, {"email": "b@x.io"}):
        assert onetime.token_for("s" * 32, _row(**other)) != token


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"account_email_rate_limit": "lots"}, "IMGHOST_ACCOUNT_EMAIL_RATE_LIMIT"),
        ({"account_email_address_rate_limit": "5/fortnight"}, "ADDRESS_RATE_LIMIT"),
        ({"password_reset_ttl": 10}, "IMGHOST_PASSWORD_RESET_TTL"),
        ({"email_verification_ttl": 10**9}, "IMGHOST_EMAIL_VERIFICATION_TTL"),
        ({"require_verified_email": True}, "needs IMGHOST_SMTP_URL"),
    ],
)
def test_the_settings_check_refuses_unusable_values(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        config.check(Settings(**changes))
    config.check(Settings(require_verified_email=True, smtp_url="smtp://mail.test"))
