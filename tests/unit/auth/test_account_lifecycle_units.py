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
    def __init__(self, log: list[tuple[str, int]], fail: bool) -> None:
        self.log = log
        self.fail = fail

    async def __aenter__(self) -> _Session:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def execute(self, statement: Any, rows: list[dict[str, Any]]) -> None:
        if self.fail:
            raise OSError("database unreachable")
        self.log.append((str(statement).split()[1], len(rows)))  # UPDATE <table>, how many

    async def commit(self) -> None:
        self.log.append(("commit", 0))


def _recorder(log: list[tuple[str, int]], fail: list[bool]) -> LastUse:
    sessions = cast(async_sessionmaker[AsyncSession], lambda: _Session(log, fail[0]))
    return LastUse(sessions)


def _actor(via: str, credential: str) -> Actor:
    user = User(id="u_1", username="ann", email="ann@example.com")
    return Actor(user, via, credential, "u_1", "public", False)  # type: ignore[arg-type]


async def test_uses_are_noted_in_memory_and_written_together() -> None:
    log: list[tuple[str, int]] = []
    last_use = _recorder(log, [False])
    session, other, key = _actor("token", "ses_1"), _actor("token", "ses_2"), _actor("api_key", "k")
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        last_use.seen(session, address)  # no I/O: a request never waits for it
    last_use.seen(other, "10.0.0.9")
    last_use.seen(key, "10.0.0.9")
    assert log == []
    noted = last_use.noted("token", "ses_1")
    assert noted is not None and noted.address == "10.0.0.3"  # the latest use
    assert last_use.noted("api_key", "ses_1") is None

    assert await last_use.write()
    # One executemany per table, in one transaction.
    assert log == [("auth_sessions", 2), ("api_keys", 1), ("commit", 0)]
    assert last_use.noted("token", "ses_1") is None
    assert await last_use.write()  # nothing noted: nothing written
    assert len(log) == 3


async def test_a_failed_write_keeps_its_notes_for_the_next(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log: list[tuple[str, int]] = []
    fail = [True]
    last_use = _recorder(log, fail)
    last_use.seen(_actor("token", "ses_1"), "10.0.0.1")
    assert not await last_use.write()
    assert "could not record the last use of 1 credentials" in caplog.text
    last_use.seen(_actor("token", "ses_1"), "10.0.0.2")  # a newer use wins
    fail[0] = False
    assert await last_use.write()
    assert log == [("auth_sessions", 1), ("commit", 0)]


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
