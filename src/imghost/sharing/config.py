"""The signed-URL and share-link settings checked at start-up."""

from __future__ import annotations

from imghost.settings import Settings, SettingsError
from imghost.signing import SigningKeys


def check(settings: Settings) -> None:
    """Raise SettingsError naming the first sharing setting that cannot be used.

    Takes the whole settings: without IMGHOST_SIGNING_KEYS the key is derived
    from IMGHOST_SECRET_KEY, a setting of the install, not of this section.
    """
    try:
        SigningKeys.parse(settings.signing_keys, settings.secret_key)
    except ValueError as exc:
        raise SettingsError(f"IMGHOST_SIGNING_KEYS: {exc}") from exc
    if (
        settings.signed_url_max_expires <= 0
        or settings.link_grant_ttl <= 0
        or settings.share_invite_ttl <= 0
    ):
        raise SettingsError(
            "IMGHOST_SIGNED_URL_MAX_EXPIRES, IMGHOST_LINK_GRANT_TTL and "
            "IMGHOST_SHARE_INVITE_TTL must be positive"
        )
