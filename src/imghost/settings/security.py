"""The settings of trust and safety: sign-in and passwords, content scanning
and hash lists, abuse reports, and the audit log (sections of
:mod:`imghost.settings.sections`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from imghost.settings.declare import setting


@dataclass(frozen=True)
class AuthSettings:
    """Tokens, logins, sign-ups and passwords (``auth.config``)."""

    access_token_ttl: int = setting(3600, "Lifetime of an access token, seconds")
    refresh_token_ttl: int = setting(30 * 86400, "Lifetime of a refresh token, seconds")
    login_free_failures: int = setting(
        5,
        "Wrong passwords for one account from one address before each further one makes "
        "that pair wait (1 s, then doubling up to IMGHOST_LOGIN_MAX_DELAY)",
    )
    login_address_free_failures: int = setting(
        20, "Wrong passwords from one address, over all accounts, before that address waits"
    )
    login_account_free_failures: int = setting(
        50,
        "Wrong passwords for one account, from all addresses, before logins to it from "
        "addresses it has not signed in from wait",
    )
    login_max_delay: int = setting(
        900, "Longest wait in seconds a login throttle imposes (the doubling stops here)"
    )
    password_hash_queue: int = setting(
        32,
        "Password checks waiting for a CPU slot, per process, before more are refused "
        "503 with Retry-After",
    )
    password_hash_cost: Literal["standard", "minimal"] = setting(
        "standard",
        "standard (argon2id, RFC 9106 low-memory profile: ~0.1 s of a core per hash) or "
        "minimal (argon2's smallest parameters, for test suites only; refused in production)",
    )
    login_checks_per_address: int = setting(
        2,
        "Password checks one client address may have running or waiting at once, per "
        "process; more are answered 429 login_throttled (a flood from one address cannot "
        "fill the CPU slots other people's logins need)",
    )
    signup_rate_limit: str = setting(
        "20/hour",
        "Sign-ups per client address: AMOUNT/PERIOD (e.g. 20/hour); empty or off: no limit",
    )
    password_reset_ttl: int = setting(
        1800, "Seconds an e-mailed password-reset token stays valid (it works once)"
    )
    email_verification_ttl: int = setting(
        86400, "Seconds an e-mailed e-mail-verification token stays valid (it works once)"
    )
    account_email_rate_limit: str = setting(
        "5/hour",
        "Password-reset and verification e-mails asked for one e-mail address: AMOUNT/PERIOD; "
        "empty or off: no limit",
    )
    account_email_address_rate_limit: str = setting(
        "20/hour",
        "Password-reset and verification e-mails asked for from one client address: "
        "AMOUNT/PERIOD; empty or off: no limit",
    )
    require_verified_email: bool = setting(
        False,
        "Uploads need a verified e-mail address (claiming what was sent to an address always "
        "does); needs IMGHOST_SMTP_URL",
    )
    mfa_issuer: str = setting(
        "imghost",
        "The name authenticator apps show beside the account (two-factor sign-in, TOTP)",
    )
    mfa_challenge_ttl: int = setting(
        300,
        "Seconds a password sign-in to an account with two-factor sign-in waits for its code",
    )
    user_lookup_rate_limit: str = setting(
        "30/minute",
        "User lookups (GET /v1/users/lookup) per signed-in user: AMOUNT/PERIOD; empty or "
        "off: no limit",
    )


@dataclass(frozen=True)
class ScanSettings:
    """Malware scanning by a ClamAV daemon after the structural scan (``processing.config``)."""

    clamd_address: str = setting(
        "",
        "clamd to scan every upload with: unix:/path/to/clamd.sock or tcp://host:port "
        "(empty: no malware scan, the built-in structural scan only)",
    )
    clamd_timeout: float = setting(
        30.0, "Seconds one scan by clamd may take (connect, send the file, answer)"
    )
    clamd_unreachable: Literal["closed", "open"] = setting(
        "closed",
        "When clamd cannot be reached: closed keeps the image processing (owner only) and "
        "retries without using up the job's attempts; open lets it through unscanned with "
        "a warning, its scan verdict saying clamd was not consulted",
    )
    hashlist_sha256: str = setting(
        "",
        "File of known-bad SHA-256 hashes (hex, one a line, # comments): an upload whose "
        "original matches one is quarantined and reported (empty: no such list)",
    )
    hashlist_pdq: str = setting(
        "",
        "File of known-bad PDQ perceptual hashes (64 hex digits a line, optionally a comma "
        "and a quality, # comments): an upload within IMGHOST_HASHLIST_PDQ_DISTANCE of one is "
        "quarantined and reported (empty: no such list)",
    )
    hashlist_pdq_distance: int = setting(
        31,
        "Largest Hamming distance (bits of 256) at which an image's PDQ hash matches a listed "
        "one (31: the threshold the industry shares lists for)",
    )
    hashlist_reload_check: float = setting(
        5.0,
        "Seconds between checks (by each worker) of whether a hash list file changed (its "
        "modification time, size or inode); a changed list is reloaded without a restart",
    )


@dataclass(frozen=True)
class ReportSettings:
    """Abuse reports (``reports.config``)."""

    report_rate_limit: str = setting(
        "10/hour",
        "Abuse reports per client address (anonymous and signed-in reporters alike): "
        "AMOUNT/PERIOD (e.g. 10/hour); empty or off: no limit",
    )


@dataclass(frozen=True)
class AuditSettings:
    """The audit log's retention (``audit.config``)."""

    audit_retention_days: int = setting(
        365,
        "Days an audit event is kept; older ones are deleted, oldest first, by the maintenance "
        "pass (the rest of the chain still verifies)",
    )
    audit_pii_retention_days: int = setting(
        30,
        "Days an audit event keeps its client address and user agent (privacy); then they are "
        "cleared, their digests stay in the chain. At most IMGHOST_AUDIT_RETENTION_DAYS",
    )


# The order `imghost settings` lists them in.
