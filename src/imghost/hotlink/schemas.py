"""Wire shapes of the hotlink allow-list."""

from __future__ import annotations

from pydantic import Field

from imghost.hotlink.hosts import MAX_HOSTS
from imghost.schemas import ApiModel, StrictInput, Timestamp


class HotlinkIn(StrictInput):
    allowed_referrers: list[str] = Field(
        # Parsing is bounded well above the limit; the limit itself answers 422
        # too_many_referrer_hosts with a sentence.
        max_length=10 * MAX_HOSTS,
        description=(
            f"Host names (example.com) and wildcards (*.example.com: its subdomains), at "
            f"most {MAX_HOSTS}; empty: hotlink protection off"
        ),
    )


class HotlinkOut(ApiModel):
    account_id: str = Field(description="The user's or org's id")
    enabled: bool = Field(description="Whether the list is on (not empty)")
    allowed_referrers: list[str] = Field(
        description="Normalised: lower case, no trailing dot, international names in punycode"
    )
    updated_at: Timestamp | None = Field(description="When the list was last set; null: never")
