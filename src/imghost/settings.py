"""Settings as declared data.

Every setting is declared once below with its type, default and help text. They
are read from ``IMGHOST_*`` environment variables (or passed explicitly), validated
at start-up, and handed to ``create_app``. Nothing reads the environment later.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from imghost.keyfile import KeyFileError, load_or_create
from imghost.proxies import parse_trusted_proxies
from imghost.ratelimit.rules import parse_rules
from imghost.sharing.signing import SigningKeys

GENERATE_KEY_HINT = "`openssl rand -base64 48`"


class SettingsError(ValueError):
    """A setting has a value that cannot be used."""


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected a boolean, got {raw!r}")


def _parse_size(raw: str) -> int:
    """Accept plain bytes or a suffix: 50MB, 200MiB, 1GB (decimal and binary)."""
    text = raw.strip().upper().replace(" ", "")
    units = {
        "KIB": 1024,
        "MIB": 1024**2,
        "GIB": 1024**3,
        "KB": 1000,
        "MB": 1000**2,
        "GB": 1000**3,
        "B": 1,
    }
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * factor)
    return int(text)


@dataclass(frozen=True)
class Setting:
    name: str
    parse: Callable[[str], Any]
    default: Any
    help: str
    secret: bool = False


DECLARED: tuple[Setting, ...] = (
    Setting(
        "env", str, "development", "development or production; production refuses placeholders"
    ),
    Setting(
        "database_url",
        str,
        "",
        "SQLAlchemy URL: sqlite+aiosqlite:///path or postgresql://user:pw@host:port/db "
        "(default: sqlite+aiosqlite:///DATA_DIR/imghost.db)",
    ),
    Setting(
        "storage_url",
        str,
        "",
        "Blob store: file://DIR or s3://BUCKET[/PREFIX]?endpoint=URL&region=R "
        "(credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the query; "
        "default: file://DATA_DIR/blobs)",
    ),
    Setting(
        "public_base_url",
        str,
        "",
        "Base URL clients use to reach us (default: http://HOST:PORT)",
    ),
    Setting(
        "secret_key",
        str,
        "",
        "Key for access tokens and signed URLs (at least 32 characters). Unset: a random key "
        "generated once in DATA_DIR/secret_key (SQLite and local files only; required on "
        "PostgreSQL or S3, in production and when binding a non-loopback address)",
        True,
    ),
    Setting(
        "signing_keys",
        str,
        "",
        "Keys for signed URLs and share links: KID:SECRET[,KID:SECRET...]; the first signs, "
        "all verify (rotation). Unset: one key derived from IMGHOST_SECRET_KEY",
        True,
    ),
    Setting(
        "signed_url_max_expires",
        int,
        7 * 86400,
        "Longest lifetime a signed URL may be given, seconds",
    ),
    Setting(
        "link_grant_ttl",
        int,
        3600,
        "Lifetime of the access a resolved share link hands out, seconds (capped by the "
        "link's own expiry; revocation still applies at once)",
    ),
    Setting("host", str, "127.0.0.1", "Address `imghost serve` binds"),
    Setting("port", int, 8000, "Port `imghost serve` binds"),
    Setting("workers", int, 1, "Number of API processes `imghost serve` starts"),
    Setting("run_worker", _parse_bool, True, "Run the background worker inside `imghost serve`"),
    Setting("auto_migrate", _parse_bool, True, "Apply database migrations when serving starts"),
    Setting(
        "freeze_heap",
        _parse_bool,
        True,
        "Keep what exists after startup out of Python's full garbage collections "
        "(imghost.heap: they were the slowest percent of requests)",
    ),
    Setting("max_file_size", _parse_size, 50_000_000, "Largest accepted file, bytes (50MB)"),
    Setting("max_batch_size", _parse_size, 200_000_000, "Largest multipart batch, bytes (200MB)"),
    Setting("max_batch_files", int, 50, "Most files in one multipart upload"),
    Setting("max_pixels", int, 100_000_000, "Largest accepted image, pixels (100 MP)"),
    Setting("presign_expires", int, 900, "Lifetime of a presigned upload URL, seconds"),
    Setting(
        "tus_expires",
        int,
        86400,
        "Seconds a resumable (tus) upload stays open after its last PATCH; then it is collected",
    ),
    Setting(
        "s3_part_size",
        _parse_size,
        8 * 1024**2,
        "Part size of resumable uploads on S3 (at least 5MiB); one part per PATCH is buffered",
    ),
    Setting(
        "cors_origins",
        str,
        "*",
        "Origins allowed to call the API from a browser, comma-separated, or * for any "
        "(credentials are bearer tokens, never cookies)",
    ),
    Setting("access_token_ttl", int, 3600, "Lifetime of an access token, seconds"),
    Setting("refresh_token_ttl", int, 30 * 86400, "Lifetime of a refresh token, seconds"),
    Setting("public_max_age", int, 86400, "Cache-Control max-age for public originals, seconds"),
    Setting(
        "delivery",
        str,
        "proxy",
        "proxy (the API streams bytes) or redirect (/v1/images/{id}/file gives a presigned GET)",
    ),
    Setting("gc_interval", int, 600, "Seconds between garbage-collection runs of the worker"),
    Setting("gc_grace", int, 3600, "Age in seconds before an unreferenced blob is collected"),
    Setting(
        "trash_retention",
        int,
        2_592_000,
        "Seconds a deleted image stays in the trash (restorable) before it is purged (30 days)",
    ),
    Setting(
        "worker_concurrency",
        int,
        0,
        "Jobs a worker runs at once (0 = one per CPU core); pixel work runs in a process pool",
    ),
    Setting("job_lease", int, 60, "Seconds a claimed job stays leased without a heartbeat"),
    Setting("job_timeout", int, 300, "Seconds one job may run before it is failed"),
    Setting("job_max_attempts", int, 5, "Attempts before a failing job is marked dead"),
    Setting(
        "job_memory_limit",
        _parse_size,
        3 * 1024**3,
        "Address-space limit of each pixel-work process (a job over it fails cleanly)",
    ),
    Setting(
        "tmp_dir",
        str,
        "",
        "Spool directory for uploads on S3 (default: imghost-staging in the system temp "
        "dir); the local store always spools inside its own directory",
    ),
    Setting(
        "analytics_flush_interval",
        float,
        5.0,
        "Seconds between writes of buffered view counts (a crash loses at most this much)",
    ),
    Setting("quota_free", _parse_size, 1_000_000_000, "Storage quota of the free plan, bytes"),
    Setting(
        "quota_premium", _parse_size, 100_000_000_000, "Storage quota of the premium plan, bytes"
    ),
    Setting(
        "quota_warnings",
        str,
        "80,95",
        "Usage percentages that send a quota warning when crossed, comma-separated (empty: none)",
    ),
    # rate limits (ratelimit/): per user by plan, per address for anonymous callers
    Setting(
        "redis_url",
        str,
        "",
        "Redis for rate-limit counters shared by every API process: redis://[:pw@]host:port/db "
        "or rediss://...; empty: counters in each process's memory",
    ),
    Setting("rate_limits_enabled", _parse_bool, True, "Apply per-user rate limits"),
    Setting(
        "rate_limits_free",
        str,
        "uploads=60/minute; upload_bytes=1GB/hour; views=1200/minute",
        "Rate limits of the free plan: CATEGORY=AMOUNT/PERIOD pairs separated by ; "
        "(uploads, upload_bytes, views; a category left out is not limited)",
    ),
    Setting(
        "rate_limits_premium",
        str,
        "uploads=600/minute; upload_bytes=20GB/hour; views=12000/minute",
        "Rate limits of the premium plan (same form)",
    ),
    Setting(
        "rate_limits_anonymous",
        str,
        "views=1200/minute",
        "Rate limits of callers without credentials, per client address (same form)",
    ),
    Setting("log_level", str, "info", "Log level: debug, info, warning, error"),
    Setting("access_log", _parse_bool, False, "Log every HTTP request (uvicorn access log)"),
    # notifications: e-mail and webhooks
    Setting(
        "smtp_url",
        str,
        "",
        "SMTP server for notification e-mail: smtp://[user:pass@]host[:port][?starttls=true|false] "
        "or smtps://... (TLS from the start); empty: no e-mail is sent",
    ),
    Setting("mail_from", str, "imghost@localhost", "From address of notification e-mail"),
    Setting(
        "webhook_allow_private",
        _parse_bool,
        False,
        "Let webhooks reach loopback, private and link-local addresses (tests, closed networks)",
    ),
    Setting("webhook_timeout", float, 10.0, "Seconds one webhook request may take"),
    Setting("webhook_max_attempts", int, 8, "Attempts before a webhook delivery is failed"),
    Setting(
        "webhook_retry_base",
        float,
        30.0,
        "Seconds before the first webhook retry; each next wait doubles (at most 1 hour)",
    ),
    # upload validation: frames, decoded pixels, time budget, fair admission, shutdown
    Setting(
        "max_frames",
        int,
        1000,
        "Most frames an animated upload may have (counted from its headers before decoding)",
    ),
    Setting(
        "max_total_pixels",
        int,
        300_000_000,
        "Most pixels an upload decodes to in all its frames together (canvas × frames)",
    ),
    Setting(
        "validation_timeout",
        float,
        30.0,
        "Seconds checking one upload may take; longer is refused 422 image_too_complex",
    ),
    Setting(
        "validations_per_user",
        int,
        1,
        "Large or animated uploads of one user checked at once (in pixel processes, one per "
        "core); more wait their turn, and free slots go round-robin to the waiting users",
    ),
    Setting(
        "validation_queue_per_user",
        int,
        8,
        "Uploads of one user waiting to be checked; more are answered 429 validation_busy",
    ),
    Setting(
        "validation_queue",
        int,
        64,
        "Uploads of all users waiting to be checked; more are answered 503 server_busy",
    ),
    Setting(
        "max_image_chunks",
        int,
        100_000,
        "Most chunks (PNG, WebP, JPEG segments) or blocks and sub-blocks (GIF) an upload may "
        "have, plus one per 256 bytes of it; more are refused 422 image_too_complex before "
        "decoding",
    ),
    Setting(
        "shutdown_timeout",
        int,
        15,
        "Seconds `imghost serve` waits for requests in flight on SIGTERM before it stops them",
    ),
    # request bodies: size and time limits, database pool, concurrent uploads
    Setting(
        "body_idle_timeout",
        float,
        30.0,
        "Seconds a request body may send nothing before it is answered 408 body_timeout",
    ),
    Setting(
        "body_min_rate",
        _parse_size,
        1024,
        "Bytes per second a request body must average once IMGHOST_BODY_IDLE_TIMEOUT has "
        "passed (0 = no minimum); slower bodies are answered 408 body_timeout",
    ),
    Setting(
        "max_json_body",
        _parse_size,
        1024**2,
        "Largest body of any route that is not an upload (JSON, forms), answered 413 "
        "body_too_large",
    ),
    Setting(
        "uploads_per_user",
        int,
        4,
        "Upload bodies one user may send at once (direct, presigned PUT, tus); more: 429",
    ),
    Setting(
        "uploads_per_address",
        int,
        8,
        "Upload bodies one client address may send at once; more: 429 too_many_uploads",
    ),
    Setting(
        "db_pool_timeout",
        float,
        5.0,
        "Seconds a request waits for a database connection before it is answered 503 server_busy",
    ),
    # on-demand renditions: the bytes strangers can cause to be stored, eviction
    Setting(
        "rendition_cache_per_image",
        _parse_size,
        20_000_000,
        "Most bytes of renditions made on request (transforms, AVIF presets) kept per image; "
        "the least recently used go first, a larger one is served but not kept (20MB)",
    ),
    Setting(
        "rendition_cache_total",
        _parse_size,
        2_000_000_000,
        "Most bytes of renditions made on request kept in all (2GB); the least recently used "
        "go first. They count against no quota",
    ),
    Setting(
        "rendition_cache_max_age",
        int,
        30 * 86400,
        "Seconds a rendition made on request is kept after its last use (the worker's gc "
        "sweep removes older ones)",
    ),
    # HTTP server: request heads, keep-alive, connections
    Setting(
        "max_url_bytes",
        _parse_size,
        16 * 1024,
        "Longest request target (path and query) accepted; longer: 414 uri_too_long",
    ),
    Setting(
        "max_header_bytes",
        _parse_size,
        64 * 1024,
        "Most bytes of request header fields (names and values together) accepted; "
        "more: 431 headers_too_large",
    ),
    Setting(
        "max_headers",
        int,
        100,
        "Most request header fields accepted; more: 431 headers_too_large",
    ),
    Setting(
        "header_timeout",
        float,
        10.0,
        "Seconds a client has to send a request's headers, from its first byte (or from "
        "connecting); slower: 408 request_timeout and the connection is closed",
    ),
    Setting(
        "keepalive_timeout",
        float,
        5.0,
        "Seconds an idle keep-alive connection stays open between requests",
    ),
    Setting(
        "max_connections",
        int,
        1000,
        "Open connections per API process; more are answered 503 server_busy and closed "
        "(also lowered to fit the process's open-file limit)",
    ),
    # logins, sign-ups and passwords
    Setting(
        "login_free_failures",
        int,
        5,
        "Wrong passwords for one account from one address before each further one makes "
        "that pair wait (1 s, then doubling up to IMGHOST_LOGIN_MAX_DELAY)",
    ),
    Setting(
        "login_address_free_failures",
        int,
        20,
        "Wrong passwords from one address, over all accounts, before that address waits",
    ),
    Setting(
        "login_account_free_failures",
        int,
        50,
        "Wrong passwords for one account, from all addresses, before logins to it from "
        "addresses it has not signed in from wait",
    ),
    Setting(
        "login_max_delay",
        int,
        900,
        "Longest wait in seconds a login throttle imposes (the doubling stops here)",
    ),
    Setting(
        "password_hash_queue",
        int,
        32,
        "Password checks waiting for a CPU slot, per process, before more are refused "
        "503 with Retry-After",
    ),
    Setting(
        "password_hash_cost",
        str,
        "standard",
        "standard (argon2id, RFC 9106 low-memory profile: ~0.1 s of a core per hash) or "
        "minimal (argon2's smallest parameters, for test suites only; refused in production)",
    ),
    Setting(
        "login_checks_per_address",
        int,
        2,
        "Password checks one client address may have running or waiting at once, per "
        "process; more are answered 429 login_throttled (a flood from one address cannot "
        "fill the CPU slots other people's logins need)",
    ),
    Setting(
        "signup_rate_limit",
        str,
        "20/hour",
        "Sign-ups per client address: AMOUNT/PERIOD (e.g. 20/hour); empty or off: no limit",
    ),
    # data directory and key, trusted proxies
    Setting(
        "data_dir",
        str,
        "./data",
        "Directory of the embedded install: the generated secret key, and the default "
        "SQLite database and blob store",
    ),
    Setting(
        "trusted_proxies",
        str,
        "",
        "Addresses or CIDRs of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto "
        "are believed, comma-separated (empty: none; the socket peer is the client)",
    ),
)

_BY_NAME = {s.name: s for s in DECLARED}


@dataclass(frozen=True)
class Settings:
    env: Literal["development", "production"] = "development"
    database_url: str = ""  # "": under data_dir
    storage_url: str = ""  # "": under data_dir
    public_base_url: str = ""
    secret_key: str = ""  # "": generated in data_dir (embedded installs only)
    signing_keys: str = ""
    signed_url_max_expires: int = 7 * 86400
    link_grant_ttl: int = 3600
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    run_worker: bool = True
    auto_migrate: bool = True
    freeze_heap: bool = True
    max_file_size: int = 50_000_000
    max_batch_size: int = 200_000_000
    max_batch_files: int = 50
    max_pixels: int = 100_000_000
    presign_expires: int = 900
    tus_expires: int = 86400
    s3_part_size: int = 8 * 1024**2
    cors_origins: str = "*"
    access_token_ttl: int = 3600
    refresh_token_ttl: int = 30 * 86400
    public_max_age: int = 86400
    delivery: Literal["proxy", "redirect"] = "proxy"
    gc_interval: int = 600
    gc_grace: int = 3600
    trash_retention: int = 2_592_000
    worker_concurrency: int = 0
    job_lease: int = 60
    job_timeout: int = 300
    job_max_attempts: int = 5
    job_memory_limit: int = 3 * 1024**3
    tmp_dir: str = ""
    analytics_flush_interval: float = 5.0
    quota_free: int = 1_000_000_000
    quota_premium: int = 100_000_000_000
    quota_warnings: str = "80,95"
    redis_url: str = ""
    rate_limits_enabled: bool = True
    rate_limits_free: str = "uploads=60/minute; upload_bytes=1GB/hour; views=1200/minute"
    rate_limits_premium: str = "uploads=600/minute; upload_bytes=20GB/hour; views=12000/minute"
    rate_limits_anonymous: str = "views=1200/minute"
    log_level: str = "info"
    access_log: bool = False
    smtp_url: str = ""
    mail_from: str = "imghost@localhost"
    webhook_allow_private: bool = False
    webhook_timeout: float = 10.0
    webhook_max_attempts: int = 8
    webhook_retry_base: float = 30.0
    # upload validation
    max_frames: int = 1000
    max_total_pixels: int = 300_000_000
    validation_timeout: float = 30.0
    validations_per_user: int = 1
    validation_queue_per_user: int = 8
    validation_queue: int = 64
    max_image_chunks: int = 100_000
    shutdown_timeout: int = 15
    # request bodies
    body_idle_timeout: float = 30.0
    body_min_rate: int = 1024
    max_json_body: int = 1024**2
    uploads_per_user: int = 4
    uploads_per_address: int = 8
    db_pool_timeout: float = 5.0
    # on-demand renditions
    rendition_cache_per_image: int = 20_000_000
    rendition_cache_total: int = 2_000_000_000
    rendition_cache_max_age: int = 30 * 86400
    # HTTP server
    max_url_bytes: int = 16 * 1024
    max_header_bytes: int = 64 * 1024
    max_headers: int = 100
    header_timeout: float = 10.0
    keepalive_timeout: float = 5.0
    max_connections: int = 1000
    # logins, sign-ups and passwords
    login_free_failures: int = 5
    login_address_free_failures: int = 20
    login_account_free_failures: int = 50
    login_max_delay: int = 900
    password_hash_queue: int = 32
    password_hash_cost: Literal["standard", "minimal"] = "standard"  # noqa: S105 - a cost, not a password
    login_checks_per_address: int = 2
    signup_rate_limit: str = "20/hour"
    # data directory and key, trusted proxies
    data_dir: str = "./data"
    trusted_proxies: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        self._resolve_data_dir_and_key()  # data directory and key, trusted proxies
        if self.env not in ("development", "production"):
            raise SettingsError(f"IMGHOST_ENV must be development or production, not {self.env!r}")
        if self.delivery not in ("proxy", "redirect"):
            raise SettingsError(
                f"IMGHOST_DELIVERY must be proxy or redirect, not {self.delivery!r}"
            )
        for name in ("max_file_size", "max_batch_size", "max_batch_files", "max_pixels"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"IMGHOST_{name.upper()} must be positive")
        if self.s3_part_size < 5 * 1024**2:
            raise SettingsError("IMGHOST_S3_PART_SIZE must be at least 5MiB (S3's minimum part)")
        if self.tus_expires <= 0:
            raise SettingsError("IMGHOST_TUS_EXPIRES must be positive")
        if not 0 < self.trash_retention <= 100 * 365 * 86400:
            raise SettingsError(
                "IMGHOST_TRASH_RETENTION must be a positive number of seconds, at most 100 years"
            )
        if self.max_file_size > self.max_batch_size:
            raise SettingsError("IMGHOST_MAX_FILE_SIZE cannot exceed IMGHOST_MAX_BATCH_SIZE")
        if self.log_level.lower() not in ("debug", "info", "warning", "error", "critical"):
            raise SettingsError(f"IMGHOST_LOG_LEVEL {self.log_level!r} is not a log level")
        if not self.storage_url.startswith(("file://", "s3://")):
            raise SettingsError("IMGHOST_STORAGE_URL must start with file:// or s3://")
        try:
            SigningKeys.parse(self.signing_keys, self.secret_key)
        except ValueError as exc:
            raise SettingsError(f"IMGHOST_SIGNING_KEYS: {exc}") from exc
        if self.signed_url_max_expires <= 0 or self.link_grant_ttl <= 0:
            raise SettingsError(
                "IMGHOST_SIGNED_URL_MAX_EXPIRES and IMGHOST_LINK_GRANT_TTL must be positive"
            )
        if not 0 < self.analytics_flush_interval < float("inf"):  # also refuses NaN
            raise SettingsError("IMGHOST_ANALYTICS_FLUSH_INTERVAL must be a positive number")
        if self.quota_free <= 0 or self.quota_premium <= 0:
            raise SettingsError("IMGHOST_QUOTA_FREE and IMGHOST_QUOTA_PREMIUM must be positive")
        try:
            self.quota_warning_levels  # noqa: B018 - parsed here to be refused at start-up
        except ValueError as exc:
            raise SettingsError(f"IMGHOST_QUOTA_WARNINGS: {exc}") from exc
        self._validate_notifications()
        for plan in ("free", "premium", "anonymous"):
            try:
                parse_rules(getattr(self, f"rate_limits_{plan}"))
            except ValueError as exc:
                raise SettingsError(f"IMGHOST_RATE_LIMITS_{plan.upper()}: {exc}") from exc
        if self.redis_url and not self.redis_url.startswith(("redis://", "rediss://")):
            raise SettingsError("IMGHOST_REDIS_URL must start with redis:// or rediss://")
        # upload validation
        for name in ("max_frames", "max_total_pixels", "validations_per_user", "max_image_chunks"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"IMGHOST_{name.upper()} must be positive")
        if self.validation_queue < 0 or self.validation_queue_per_user < 0:
            raise SettingsError(
                "IMGHOST_VALIDATION_QUEUE and IMGHOST_VALIDATION_QUEUE_PER_USER cannot be negative"
            )
        if not 0 < self.validation_timeout < float("inf"):  # also refuses NaN
            raise SettingsError("IMGHOST_VALIDATION_TIMEOUT must be a positive number of seconds")
        if self.shutdown_timeout <= 0:
            raise SettingsError("IMGHOST_SHUTDOWN_TIMEOUT must be a positive number of seconds")
        # request bodies
        for name in ("body_idle_timeout", "db_pool_timeout"):
            if not 0 < getattr(self, name) < float("inf"):  # also refuses NaN
                raise SettingsError(f"IMGHOST_{name.upper()} must be a positive number")
        if self.body_min_rate < 0:
            raise SettingsError("IMGHOST_BODY_MIN_RATE cannot be negative")
        for name in ("max_json_body", "uploads_per_user", "uploads_per_address"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"IMGHOST_{name.upper()} must be positive")
        # on-demand renditions
        if not 0 < self.rendition_cache_per_image <= self.rendition_cache_total:
            raise SettingsError(
                "IMGHOST_RENDITION_CACHE_PER_IMAGE must be positive and at most "
                "IMGHOST_RENDITION_CACHE_TOTAL"
            )
        if self.rendition_cache_max_age <= 0:
            raise SettingsError(
                "IMGHOST_RENDITION_CACHE_MAX_AGE must be a positive number of seconds"
            )
        # HTTP server
        for name in ("max_url_bytes", "max_header_bytes", "max_headers", "max_connections"):
            if getattr(self, name) < 1:
                raise SettingsError(f"IMGHOST_{name.upper()} must be at least 1")
        for name in ("header_timeout", "keepalive_timeout"):
            if not 0 < getattr(self, name) <= 3600:  # also refuses NaN
                raise SettingsError(f"IMGHOST_{name.upper()} must be from 0 to 3600 seconds")
        # logins, sign-ups and passwords
        from imghost.auth.throttle import parse_signup_limit  # it imports this module

        for name in (
            "login_free_failures",
            "login_address_free_failures",
            "login_account_free_failures",
            "password_hash_queue",
        ):
            if getattr(self, name) < 0:
                raise SettingsError(f"IMGHOST_{name.upper()} must be 0 or more")
        if self.password_hash_cost not in ("standard", "minimal"):
            raise SettingsError(
                "IMGHOST_PASSWORD_HASH_COST must be standard or minimal, "
                f"not {self.password_hash_cost!r}"
            )
        if self.password_hash_cost == "minimal" and self.env == "production":  # noqa: S105
            raise SettingsError(
                "IMGHOST_PASSWORD_HASH_COST=minimal is for test suites: its hashes are cheap "
                "to guess; production needs standard"
            )
        if self.login_checks_per_address < 1:
            raise SettingsError("IMGHOST_LOGIN_CHECKS_PER_ADDRESS must be at least 1")
        if not 1 <= self.login_max_delay <= 86400:
            raise SettingsError("IMGHOST_LOGIN_MAX_DELAY must be from 1 to 86400 seconds")
        try:
            parse_signup_limit(self.signup_rate_limit)
        except ValueError as exc:
            raise SettingsError(f"IMGHOST_SIGNUP_RATE_LIMIT: {exc}") from exc
        # data directory and key, trusted proxies
        try:
            parse_trusted_proxies(self.trusted_proxies)
        except ValueError as exc:
            raise SettingsError(f"IMGHOST_TRUSTED_PROXIES: {exc}") from exc
        base = self.public_base_url or f"http://{self.host}:{self.port}"
        object.__setattr__(self, "public_base_url", base.rstrip("/"))

    def _resolve_data_dir_and_key(self) -> None:
        """Fill the paths under data_dir and the secret key; refuse a forgeable setup.

        There is no default key: a published one would let anyone forge tokens,
        signed URLs and share-link grants. An embedded install (one host, SQLite
        and local files) gets a random key generated once in its data directory;
        everywhere else the operator must set one, because processes on several
        hosts would each generate their own.
        """
        data_dir = self.data_dir.rstrip("/") or "/"
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite+aiosqlite:///{data_dir}/imghost.db")
        if not self.storage_url:
            object.__setattr__(self, "storage_url", f"file://{data_dir}/blobs")
        if self.secret_key and len(self.secret_key) < 32:
            raise SettingsError(
                "IMGHOST_SECRET_KEY must be a random value of at least 32 characters "
                f"(e.g. {GENERATE_KEY_HINT})"
            )
        if not is_loopback_host(self.host) and not (self.secret_key and self.public_base_url):
            raise SettingsError(
                f"IMGHOST_HOST={self.host} is reachable from other machines: set "
                f"IMGHOST_SECRET_KEY (e.g. {GENERATE_KEY_HINT}) and IMGHOST_PUBLIC_BASE_URL "
                "(the URL clients use, e.g. https://img.example.com), or bind 127.0.0.1"
            )
        if self.secret_key:
            return
        shared = [
            name
            for name, multi_host in (
                ("IMGHOST_DATABASE_URL is PostgreSQL", self.database_url.startswith("postgres")),
                ("IMGHOST_STORAGE_URL is S3", self.storage_url.startswith("s3://")),
            )
            if multi_host
        ]
        if self.env == "production" or shared:
            why = " and ".join(shared) if shared else "IMGHOST_ENV is production"
            raise SettingsError(
                f"IMGHOST_SECRET_KEY must be set ({why}: every process on every host needs "
                f"the same key): a random value of at least 32 characters, e.g. "
                f"{GENERATE_KEY_HINT}"
            )
        try:
            object.__setattr__(self, "secret_key", load_or_create(data_dir))
        except KeyFileError as exc:
            raise SettingsError(str(exc)) from exc

    @property
    def quota_warning_levels(self) -> tuple[int, ...]:
        """The warning thresholds as ascending whole percentages (1-100)."""
        levels: set[int] = set()
        for part in self.quota_warnings.split(","):
            if not part.strip():
                continue
            if not part.strip().isdigit() or not 1 <= int(part) <= 100:
                raise ValueError(f"{part.strip()!r} is not a whole percentage from 1 to 100")
            levels.add(int(part))
        return tuple(sorted(levels))

    def _validate_notifications(self) -> None:
        from imghost.notifications.smtp_url import parse_smtp_url  # pure, no cycle

        if self.smtp_url:
            try:
                parse_smtp_url(self.smtp_url)
            except ValueError as exc:
                raise SettingsError(f"IMGHOST_SMTP_URL {exc}") from exc
        if "@" not in self.mail_from:
            raise SettingsError("IMGHOST_MAIL_FROM must be an e-mail address")
        if not 0 < self.webhook_timeout < float("inf"):
            raise SettingsError("IMGHOST_WEBHOOK_TIMEOUT must be a positive number")
        if not 0 < self.webhook_retry_base < float("inf"):
            raise SettingsError("IMGHOST_WEBHOOK_RETRY_BASE must be a positive number")
        if self.webhook_max_attempts < 1:
            raise SettingsError("IMGHOST_WEBHOOK_MAX_ATTEMPTS must be at least 1")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from IMGHOST_* variables; explicit overrides win."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in DECLARED:
            raw = environ.get(f"IMGHOST_{setting.name.upper()}")
            if raw is None:
                continue
            try:
                values[setting.name] = setting.parse(raw)
            except ValueError as exc:
                raise SettingsError(f"IMGHOST_{setting.name.upper()}: {exc}") from exc
        values.update(overrides)
        return cls(**values)

    def describe(self) -> list[tuple[str, str, str]]:
        """(variable, value, help) rows, secrets masked: for `imghost settings`."""
        rows = []
        for setting in DECLARED:
            value = getattr(self, setting.name)
            shown = "********" if setting.secret else mask_credentials(str(value))
            rows.append((f"IMGHOST_{setting.name.upper()}", shown, setting.help))
        return rows


def mask_credentials(value: str) -> str:
    """Hide passwords in URLs (user:pw@host) and secret query parameters."""
    # The user may be empty: redis://:password@host
    value = re.sub(r"(://[^:/@]*:)[^@/]+@", r"\1********@", value)
    return re.sub(r"((?:secret_access_key|password|token)=)[^&]+", r"\1********", value)


def is_loopback_host(host: str) -> bool:
    """Whether binding ``host`` serves this machine only (names other than localhost: no)."""
    if host.strip().lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def declared(name: str) -> Setting:
    return _BY_NAME[name]
