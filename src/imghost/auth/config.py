"""The login, sign-up and password settings checked at start-up."""

from __future__ import annotations

from imghost.auth.throttle import parse_signup_limit
from imghost.settings import Settings, SettingsError


def check(settings: Settings) -> None:
    """Raise SettingsError naming the first auth setting that cannot be used.

    Takes the whole settings: the cheap password-hash cost depends on ``env``.
    """
    if settings.password_hash_cost == "minimal" and settings.env == "production":  # noqa: S105
        raise SettingsError(
            "IMGHOST_PASSWORD_HASH_COST=minimal is for test suites: its hashes are cheap "
            "to guess; production needs standard"
        )
    for name in (
        "login_free_failures",
        "login_address_free_failures",
        "login_account_free_failures",
        "password_hash_queue",
    ):
        if getattr(settings, name) < 0:
            raise SettingsError(f"IMGHOST_{name.upper()} must be 0 or more")
    if settings.login_checks_per_address < 1:
        raise SettingsError("IMGHOST_LOGIN_CHECKS_PER_ADDRESS must be at least 1")
    if not 1 <= settings.login_max_delay <= 86400:
        raise SettingsError("IMGHOST_LOGIN_MAX_DELAY must be from 1 to 86400 seconds")
    limits = (
        "signup_rate_limit",
        "account_email_rate_limit",
        "account_email_address_rate_limit",
        "user_lookup_rate_limit",
    )
    for name in limits:
        try:
            parse_signup_limit(getattr(settings, name))
        except ValueError as exc:
            raise SettingsError(f"IMGHOST_{name.upper()}: {exc}") from exc
    for name in ("password_reset_ttl", "email_verification_ttl"):
        if not 60 <= getattr(settings, name) <= 30 * 86400:
            raise SettingsError(f"IMGHOST_{name.upper()} must be from 60 to 2592000 seconds")
    if not 30 <= settings.mfa_challenge_ttl <= 3600:
        raise SettingsError("IMGHOST_MFA_CHALLENGE_TTL must be from 30 to 3600 seconds")
    if not settings.mfa_issuer.strip() or ":" in settings.mfa_issuer:
        # The otpauth URI's label is ISSUER:ACCOUNT; apps split it at the colon.
        raise SettingsError("IMGHOST_MFA_ISSUER must be a non-empty name without ':'")
    if settings.require_verified_email and not settings.smtp_url:
        # Nobody could verify an address, so nobody could upload.
        raise SettingsError(
            "IMGHOST_REQUIRE_VERIFIED_EMAIL=true needs IMGHOST_SMTP_URL: verification is e-mailed"
        )
