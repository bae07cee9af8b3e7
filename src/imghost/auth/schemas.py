from __future__ import annotations

from typing import Literal

from pydantic import Field

from imghost.schemas import ApiModel, StrictInput, Timestamp


class LoginIn(StrictInput):
    email: str = Field(max_length=254)
    password: str = Field(max_length=1024)


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


class ApiKeyCreated(ApiKeyOut):
    key: str  # shown once, never again
