"""The sections of the settings: every setting, declared once as a field.

Sign-in, scanning, abuse reports and the audit log are declared in
:mod:`imghost.settings.security`, what leaves the service in
:mod:`imghost.settings.egress`, read replicas, readiness and metrics in
:mod:`imghost.settings.operations`; the order of ``SECTIONS`` is the order of
``imghost settings``.

Each section is the settings of one part of the service; a module that needs only
its own takes that section (``UploadSettings``, ...). The type of a field gives the
parser of its variable (``Size`` for bytes, ``Literal`` for a choice).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from imghost.settings.declare import Size, setting
from imghost.settings.egress import CdnSettings, EgressSettings
from imghost.settings.operations import OpsSettings, ReplicaSettings
from imghost.settings.security import AuditSettings, AuthSettings, ReportSettings, ScanSettings


@dataclass(frozen=True)
class ServerSettings:
    """The install: where it runs, its key and stores, its processes and logs."""

    env: Literal["development", "production"] = setting(
        "development", "development or production; production refuses placeholders"
    )
    database_url: str = setting(
        "",
        "SQLAlchemy URL: sqlite+aiosqlite:///path or postgresql://user:pw@host:port/db "
        "(default: sqlite+aiosqlite:///DATA_DIR/imghost.db)",
    )
    storage_url: str = setting(
        "",
        "Blob store: file://DIR or s3://BUCKET[/PREFIX]?endpoint=URL&region=R "
        "(credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the query; "
        "default: file://DATA_DIR/blobs)",
    )
    encryption_keys: str = setting(
        "",
        "Encrypt every blob at rest (AES-256-GCM, a data key per blob): KID:BASE64KEY[,...], "
        "32-byte keys; the first wraps new data keys, all of them unwrap (imghost keys new "
        "makes one). Empty: blobs are stored as they are",
        secret=True,
    )
    encryption_keys_file: str = setting(
        "", "A file holding IMGHOST_ENCRYPTION_KEYS's value (read at start; it wins if set)"
    )
    public_base_url: str = setting(
        "",
        "Base URL clients use to reach us (default: http://HOST:PORT, or https://HOST:PORT "
        "when IMGHOST_TLS_CERT_FILE is set)",
    )
    secret_key: str = setting(
        "",
        "Key for access tokens and signed URLs (at least 32 characters). Unset: a random key "
        "generated once in DATA_DIR/secret_key (SQLite and local files only; required on "
        "PostgreSQL or S3, in production and when binding a non-loopback address)",
        secret=True,
    )
    host: str = setting("127.0.0.1", "Address `imghost serve` binds")
    port: int = setting(8000, "Port `imghost serve` binds")
    workers: int = setting(1, "Number of API processes `imghost serve` starts")
    run_worker: bool = setting(True, "Run the background worker inside `imghost serve`")
    auto_migrate: bool = setting(True, "Apply database migrations when serving starts")
    freeze_heap: bool = setting(
        True,
        "Keep what exists after startup out of Python's full garbage collections "
        "(imghost.heap: they were the slowest percent of requests)",
    )
    cors_origins: str = setting(
        "*",
        "Origins allowed to call the API from a browser, comma-separated, or * for any "
        "(credentials are bearer tokens, never cookies)",
    )
    log_level: str = setting("info", "Log level: debug, info, warning, error")
    log_format: Literal["text", "json"] = setting(
        "text",
        "text (one line a record) or json (one object a line: time, level, logger, message, "
        "and request_id when the record belongs to a request or to a job one queued)",
    )
    access_log: bool = setting(False, "Log every HTTP request (uvicorn access log)")
    data_dir: str = setting(
        "./data",
        "Directory of the embedded install: the generated secret key, and the default "
        "SQLite database and blob store",
    )
    trusted_proxies: str = setting(
        "",
        "Addresses or CIDRs of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto "
        "are believed, comma-separated (empty: none; the socket peer is the client)",
    )


@dataclass(frozen=True)
class SharingSettings:
    """Signed URLs and share links (checked by ``sharing.config``)."""

    signing_keys: str = setting(
        "",
        "Keys for signed URLs and share links: KID:SECRET[,KID:SECRET...]; the first signs, "
        "all verify (rotation). Unset: one key derived from IMGHOST_SECRET_KEY",
        secret=True,
    )
    signed_url_max_expires: int = setting(
        7 * 86400, "Longest lifetime a signed URL may be given, seconds"
    )
    link_grant_ttl: int = setting(
        3600,
        "Lifetime of the access a resolved share link hands out, seconds (capped by the "
        "link's own expiry; revocation still applies at once)",
    )
    share_invite_ttl: int = setting(
        30 * 86400,
        "How long a share addressed to an e-mail address waits to be claimed by the account "
        "that verifies that address, seconds",
    )


@dataclass(frozen=True)
class UploadSettings:
    """What an upload may be, and how much checking it may cost (``uploads.config``)."""

    max_file_size: Size = setting(50_000_000, "Largest accepted file, bytes (50MB)")
    max_batch_size: Size = setting(200_000_000, "Largest multipart batch, bytes (200MB)")
    max_batch_files: int = setting(50, "Most files in one multipart upload")
    max_pixels: int = setting(100_000_000, "Largest accepted image, pixels (100 MP)")
    presign_expires: int = setting(900, "Lifetime of a presigned upload URL, seconds")
    tmp_dir: str = setting(
        "",
        "Spool directory for uploads on S3 (default: imghost-staging in the system temp "
        "dir); the local store always spools inside its own directory",
    )
    max_frames: int = setting(
        1000,
        "Most frames an animated upload may have (counted from its headers before decoding)",
    )
    max_total_pixels: int = setting(
        300_000_000,
        "Most pixels an upload decodes to in all its frames together (canvas × frames)",
    )
    validation_timeout: float = setting(
        30.0, "Seconds checking one upload may take; longer is refused 422 image_too_complex"
    )
    validations_per_user: int = setting(
        1,
        "Large or animated uploads of one user checked at once (in pixel processes, one per "
        "core); more wait their turn, and free slots go round-robin to the waiting users",
    )
    validation_queue_per_user: int = setting(
        8, "Uploads of one user waiting to be checked; more are answered 429 validation_busy"
    )
    validation_queue: int = setting(
        64, "Uploads of all users waiting to be checked; more are answered 503 server_busy"
    )
    max_image_chunks: int = setting(
        100_000,
        "Most chunks (PNG, WebP, JPEG segments) or blocks and sub-blocks (GIF) an upload may "
        "have, plus one per 256 bytes of it; more are refused 422 image_too_complex before "
        "decoding",
    )
    uploads_per_user: int = setting(
        4, "Upload bodies one user may send at once (direct, presigned PUT, tus); more: 429"
    )
    uploads_per_address: int = setting(
        8, "Upload bodies one client address may send at once; more: 429 too_many_uploads"
    )
    fetch_timeout: float = setting(
        30.0,
        "Seconds an upload from a URL (POST /v1/images {sourceUrl}) may take to fetch, "
        "redirects and body included; longer is answered 504 source_timeout",
    )
    fetch_max_redirects: int = setting(
        5, "Redirects an upload from a URL follows (each target checked again); more: 502"
    )
    fetch_allow_private: bool = setting(
        False,
        "Let uploads from a URL reach loopback, private and link-local addresses (test "
        "suites only; refused when IMGHOST_ENV=production)",
    )


@dataclass(frozen=True)
class TusSettings:
    """Resumable uploads (``tus.config``)."""

    tus_expires: int = setting(
        86400,
        "Seconds a resumable (tus) upload stays open after its last PATCH; then it is collected",
    )
    tus_lease: int = setting(
        60,
        "Seconds a tus request's hold on its upload outlives that request's last sign of life "
        "(at least 4): a PATCH cut off by a crash leaves its upload answering 423 upload_locked "
        "this long; a stalled body is cut after half of it",
    )
    s3_part_size: Size = setting(
        8 * 1024**2,
        "Part size of resumable uploads on S3 (at least 5MiB); one part per PATCH is buffered",
    )


@dataclass(frozen=True)
class DeliverySettings:
    """Serving originals."""

    public_max_age: int = setting(86400, "Cache-Control max-age for public originals, seconds")
    edge_max_age: int = setting(
        1,
        "Cache-Control s-maxage of public answers, seconds: how long the edge or a CDN "
        "serves one without asking again (and so may go on serving it after it stops being "
        "public, unless purged)",
    )
    delivery_facts_ttl: float = setting(
        1.0,
        "Seconds each API process may reuse what it read about an image it serves: the "
        "longest a change made through another process takes to reach it (0: read every time)",
    )
    delivery_hot_bytes: Size = setting(
        64 * 1024**2,
        "Memory per API process for the bytes of the small blobs (up to 512KiB) served "
        "last (0: off)",
    )
    delivery: Literal["proxy", "redirect"] = setting(
        "proxy",
        "proxy (the API streams bytes) or redirect (/v1/images/{id}/file gives a presigned GET)",
    )


@dataclass(frozen=True)
class JobSettings:
    """The worker, its jobs and the gc sweep."""

    gc_interval: int = setting(600, "Seconds between garbage-collection runs of the worker")
    gc_grace: int = setting(3600, "Age in seconds before an unreferenced blob is collected")
    worker_concurrency: int = setting(
        0,
        "Jobs a worker runs at once (0 = one per CPU core); pixel work runs in a process pool",
    )
    job_lease: int = setting(60, "Seconds a claimed job stays leased without a heartbeat")
    job_timeout: int = setting(300, "Seconds one job may run before it is failed")
    job_max_attempts: int = setting(5, "Attempts before a failing job is marked dead")
    job_memory_limit: Size = setting(
        3 * 1024**3,
        "Address-space limit of each pixel-work process (a job over it fails cleanly)",
    )
    verify_rate: Size = setting(
        20_000_000,
        "Bytes per second one worker process reads for `imghost verify` (its scrub jobs "
        "share it; 0 = unthrottled)",
    )


@dataclass(frozen=True)
class LifecycleSettings:
    """The trash, account deletion and data exports (``lifecycle.config``)."""

    trash_retention: int = setting(
        2_592_000,
        "Seconds a deleted image stays in the trash (restorable) before it is purged (30 days)",
    )
    account_deletion_grace: int = setting(
        604_800,
        "Seconds between an account deletion request and the purge of the account, in which "
        "the user may sign in and cancel it (7 days; 0: at the next maintenance pass)",
    )
    export_retention: int = setting(
        604_800,
        "Seconds a finished data export (ZIP) stays downloadable before it is removed (7 days)",
    )
    export_link_ttl: int = setting(
        86_400,
        "Seconds a signed download link of a data export works without signing in (1 day; "
        "never past the export's own expiry; reading the export mints a fresh one)",
    )


@dataclass(frozen=True)
class AnalyticsSettings:
    """View counts (``analytics.config``)."""

    analytics_flush_interval: float = setting(
        5.0,
        "Seconds between writes of buffered view counts (a crash loses at most this much)",
    )


@dataclass(frozen=True)
class QuotaSettings:
    """Storage quotas and their warnings (``quotas.config``)."""

    quota_free: Size = setting(1_000_000_000, "Storage quota of the free plan, bytes")
    quota_premium: Size = setting(100_000_000_000, "Storage quota of the premium plan, bytes")
    bandwidth_free: Size = setting(
        0, "Bytes of images served per calendar month (UTC) on the free plan; 0 = unlimited"
    )
    bandwidth_premium: Size = setting(
        0, "Bytes of images served per calendar month (UTC) on the premium plan; 0 = unlimited"
    )
    quota_warnings: str = setting(
        "80,95",
        "Usage percentages that send a quota warning (storage and monthly bandwidth) when "
        "crossed, comma-separated (empty: none)",
    )

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


@dataclass(frozen=True)
class RateLimitSettings:
    """Per user by plan, per address for anonymous callers (``ratelimit.config``)."""

    redis_url: str = setting(
        "",
        "Redis for rate-limit counters shared by every API process: redis://[:pw@]host:port/db "
        "or rediss://...; empty: counters in each process's memory",
    )
    rate_limits_enabled: bool = setting(True, "Apply per-user rate limits")
    rate_limits_free: str = setting(
        "uploads=60/minute; upload_bytes=1GB/hour; views=1200/minute",
        "Rate limits of the free plan: CATEGORY=AMOUNT/PERIOD pairs separated by ; "
        "(uploads, upload_bytes, views; a category left out is not limited)",
    )
    rate_limits_premium: str = setting(
        "uploads=600/minute; upload_bytes=20GB/hour; views=12000/minute",
        "Rate limits of the premium plan (same form)",
    )
    rate_limits_anonymous: str = setting(
        "views=1200/minute",
        "Rate limits of callers without credentials, per client address (same form)",
    )


@dataclass(frozen=True)
class NotificationSettings:
    """E-mail and webhooks (``notifications.config``)."""

    smtp_url: str = setting(
        "",
        "SMTP server for notification e-mail: smtp://[user:pass@]host[:port][?starttls=true|false] "
        "or smtps://... (TLS from the start); empty: no e-mail is sent",
    )
    mail_from: str = setting("imghost@localhost", "From address of notification e-mail")
    webhook_allow_private: bool = setting(
        False,
        "Let webhooks reach loopback, private and link-local addresses (tests, closed networks)",
    )
    webhook_timeout: float = setting(10.0, "Seconds one webhook request may take")
    webhook_max_attempts: int = setting(8, "Attempts before a webhook delivery is failed")
    webhook_retry_base: float = setting(
        30.0, "Seconds before the first webhook retry; each next wait doubles (at most 1 hour)"
    )


@dataclass(frozen=True)
class BodySettings:
    """Request bodies and the wait for a database connection (``bodies.check_settings``)."""

    body_idle_timeout: float = setting(
        30.0, "Seconds a request body may send nothing before it is answered 408 body_timeout"
    )
    body_min_rate: Size = setting(
        1024,
        "Bytes per second a request body must average once IMGHOST_BODY_IDLE_TIMEOUT has "
        "passed (0 = no minimum); slower bodies are answered 408 body_timeout",
    )
    max_json_body: Size = setting(
        1024**2,
        "Largest body of any route that is not an upload (JSON, forms), answered 413 "
        "body_too_large",
    )
    db_pool_timeout: float = setting(
        5.0,
        "Seconds a request waits for a database connection before it is answered 503 server_busy",
    )


@dataclass(frozen=True)
class RenditionSettings:
    """On-demand renditions: the bytes strangers can cause to be stored (``processing.config``)."""

    rendition_cache_per_image: Size = setting(
        20_000_000,
        "Most bytes of renditions made on request (transforms, AVIF presets) kept per image; "
        "the least recently used go first, a larger one is served but not kept (20MB)",
    )
    rendition_cache_total: Size = setting(
        2_000_000_000,
        "Most bytes of renditions made on request kept in all (2GB); the least recently used "
        "go first. They count against no quota",
    )
    rendition_cache_max_age: int = setting(
        30 * 86400,
        "Seconds a rendition made on request is kept after its last use (the worker's gc "
        "sweep removes older ones)",
    )


@dataclass(frozen=True)
class HttpSettings:
    """The HTTP server: request heads, keep-alive, connections (``server.check_settings``)."""

    max_url_bytes: Size = setting(
        16 * 1024, "Longest request target (path and query) accepted; longer: 414 uri_too_long"
    )
    max_header_bytes: Size = setting(
        64 * 1024,
        "Most bytes of request header fields (names and values together) accepted; "
        "more: 431 headers_too_large",
    )
    max_headers: int = setting(
        100, "Most request header fields accepted; more: 431 headers_too_large"
    )
    header_timeout: float = setting(
        10.0,
        "Seconds a client has to send a request's headers, from its first byte (or from "
        "connecting); slower: 408 request_timeout and the connection is closed",
    )
    keepalive_timeout: float = setting(
        5.0, "Seconds an idle keep-alive connection stays open between requests"
    )
    max_connections: int = setting(
        1000,
        "Open connections per API process; more are answered 503 server_busy and closed "
        "(also lowered to fit the process's open-file limit)",
    )
    shutdown_timeout: int = setting(
        15,
        "Seconds a SIGTERM gives requests in flight (`imghost serve`) and running jobs "
        "(`imghost worker`, the in-process worker) to finish; then they are stopped, and "
        "the jobs' leases released for another worker",
    )


@dataclass(frozen=True)
class TlsSettings:
    """HTTPS without a proxy, and the CAs our own requests trust (``server_tls.check``)."""

    tls_cert_file: str = setting(
        "",
        "PEM certificate chain `imghost serve` answers HTTPS with (with IMGHOST_TLS_KEY_FILE); "
        "empty: plain HTTP. SIGHUP reloads both files",
    )
    tls_key_file: str = setting("", "PEM private key (unencrypted) of IMGHOST_TLS_CERT_FILE")
    tls_redirect_port: int = setting(
        0,
        "With TLS on, a plain-HTTP port that answers every request 308 to the same path "
        "under IMGHOST_PUBLIC_BASE_URL (0 = no such listener)",
    )
    tls_hsts: str = setting(
        "max-age=31536000",
        "Strict-Transport-Security value sent on every answer while TLS is on (empty: none); "
        "add includeSubDomains only when every subdomain serves HTTPS",
    )
    tls_ca_file: str = setting(
        "",
        "PEM file of extra CA certificates trusted, beside the public CAs, by the requests "
        "imghost makes: webhooks, SMTP (STARTTLS or smtps), uploads from a URL, CDN purges",
    )


SECTIONS: tuple[type, ...] = (
    ServerSettings,
    SharingSettings,
    UploadSettings,
    TusSettings,
    AuthSettings,
    DeliverySettings,
    EgressSettings,
    CdnSettings,
    JobSettings,
    ScanSettings,
    LifecycleSettings,
    AnalyticsSettings,
    QuotaSettings,
    RateLimitSettings,
    ReportSettings,
    NotificationSettings,
    BodySettings,
    ReplicaSettings,
    RenditionSettings,
    HttpSettings,
    OpsSettings,
    TlsSettings,
    AuditSettings,
)
