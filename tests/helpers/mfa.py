"""Two-factor sign-in turned on for a test user, with the app's codes at hand."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx
import pyotp

from tests.factories import PASSWORD, UserHandle


@dataclass
class Enrolled:
    user: UserHandle
    totp: pyotp.TOTP
    recovery: list[str]

    def code(self, steps_ahead: int = 0) -> str:
        """The app's code ``steps_ahead`` steps from now (a step is accepted once,
        and one step either side of now is accepted)."""
        return self.totp.at(time.time() + 30 * steps_ahead)


def enrol(client: httpx.Client, user: UserHandle) -> Enrolled:
    """Two-factor sign-in turned on; the confirmation used the current step."""
    r = client.post("/v1/users/me/mfa/totp", json={"password": PASSWORD}, headers=user.headers)
    assert r.status_code == 201, r.text
    totp = pyotp.TOTP(r.json()["secret"])
    r = client.post(
        "/v1/users/me/mfa/totp/confirm", json={"code": totp.now()}, headers=user.headers
    )
    assert r.status_code == 200, r.text
    return Enrolled(user, totp, r.json()["recoveryCodes"])
