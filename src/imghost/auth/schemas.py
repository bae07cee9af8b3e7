from __future__ import annotations

from typing import Literal

from pydantic import Field

from imghost.schemas import ApiModel, StrictInput, Timestamp


class LoginIn(StrictInput):
    email: str = Field(max_length=254)
    password: str = Field(max_length=1024)
    # With two-factor sign-in: the code, in the same request (scripts), instead
    # of the mfa_required challenge round trip.
    mfa_code: str | None = Field(default=None, max_length=64)


class TokenOut(ApiModel):
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - not a secret


class OAuth2TokenOut(ApiModel):
    """RFC 6749 §5.1 field names (snake_case), for the OpenAPI Authorize button."""

    access_token: str = Field(serialization_alias="access_token")
    refresh_token: str = Field(serialization_alias="refresh_token")
    expires_in: int = Field(serialization_alias="expires_in")
    token_type: str = Field(default="bearer", serialization_alias="token_type")


class RefreshIn(StrictInput):
    refresh_token: str = Field(max_length=200)


class ApiKeyIn(StrictInput):
    name: str = Field(min_length=1, max_length=100)


class ApiKeyOut(ApiModel):
    key_id: str
    name: str
    prefix: str
    created_at: Timestamp
    # Updated at most once a minute (auth.last_use).
    last_used_at: Timestamp | None = None
    last_used_address: str | None = None


class ApiKeyCreated(ApiKeyOut):
    key: str  # shown once, never again


class PasswordChangeIn(StrictInput):
    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)


class PasswordResetIn(StrictInput):
    email: str = Field(max_length=254)


class PasswordResetConfirmIn(StrictInput):
    token: str = Field(max_length=200)
    password: str = Field(max_length=1024)


class VerifyEmailIn(StrictInput):
    token: str = Field(max_length=200)


class Accepted(ApiModel):
    """The answer of a request whose e-mail goes out later, from a job."""

    status: Literal["accepted"] = "accepted"
    detail: str


class SessionOut(ApiModel):
    session_id: str
    created_at: Timestamp
    # Where the session signed in from, and with what.
    created_address: str | None
    user_agent: str | None
    # Updated at most once a minute (auth.last_use).
    last_used_at: Timestamp | None
    last_used_address: str | None
    current: bool


class ApiKeyUseOut(ApiKeyOut):
    current: bool


class SessionList(ApiModel):
    sessions: list[SessionOut]
    api_keys: list[ApiKeyUseOut]


class RevokeOthersIn(StrictInput):
    include_api_keys: bool = False


class RevokedOut(ApiModel):
    revoked_sessions: int
    revoked_api_keys: int


class MfaIn(StrictInput):
    """The second step of a two-factor sign-in."""

    mfa_token: str = Field(max_length=200)
    code: str = Field(max_length=64, description="A TOTP code or an unused recovery code")


class PasswordIn(StrictInput):
    password: str = Field(max_length=1024)


class CodeIn(StrictInput):
    code: str = Field(max_length=64)


class MfaDisableIn(StrictInput):
    password: str = Field(max_length=1024)
    code: str = Field(max_length=64, description="A TOTP code or an unused recovery code")


class MfaStatusOut(ApiModel):
    totp_enabled: bool
    enabled_at: Timestamp | None
    recovery_codes_left: int


class TotpEnrolmentOut(ApiModel):
    """What an authenticator app needs: scan ``qrCode`` or type ``secret``."""

    secret: str
    otpauth_uri: str
    qr_code: str = Field(description="The otpauth URI as a QR code: an SVG data: URI")


class RecoveryCodesOut(ApiModel):
    """Shown once: each code signs in once when the authenticator is lost."""

    recovery_codes: list[str]
