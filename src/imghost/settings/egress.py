"""The settings of what leaves the service: hotlink protection and bandwidth budgets
as delivery checks them, and purging a CDN in front (sections of
:mod:`imghost.settings.sections`; the plans' monthly budgets sit beside their storage
quotas in ``QuotaSettings``)."""

from __future__ import annotations

from dataclasses import dataclass

from imghost.settings.declare import setting


@dataclass(frozen=True)
class EgressSettings:
    """What delivery refuses without a database read (``delivery.config``)."""

    egress_refresh: float = setting(
        5.0,
        "Seconds between each API process's reloads of the hotlink allow-lists and of the "
        "accounts over their monthly bandwidth budget (delivery checks its copy in memory; "
        "a change takes effect within this long)",
    )


@dataclass(frozen=True)
class CdnSettings:
    """Purging a CDN when an image stops being public (``cdn.config``)."""

    cdn_purge_url: str = setting(
        "",
        "URL template of the CDN's purge request ({image_id}, {prefix}, {host_prefix}, "
        "{path}, {url}: one request each; {image_ids}, {prefixes}, {host_prefixes}, {paths}, "
        "{urls}: lists, in the body or a header); empty: no purge request",
    )
    cdn_purge_method: str = setting("POST", "HTTP method of the purge request (POST, PURGE, …)")
    cdn_purge_headers: str = setting(
        "",
        'Headers of the purge request as a JSON object ({"Authorization": "Bearer …"}); '
        "values are templates like the URL's",
        secret=True,
    )
    cdn_purge_body: str = setting(
        "",
        "Body template of the purge request; list placeholders become JSON arrays "
        '({"files": {urls}}); empty: no body',
    )
    cdn_purge_command: str = setting(
        "",
        'Purge command as a JSON array of arguments, run without a shell (["aws", '
        '"cloudfront", "create-invalidation", …, "{prefixes}*"]); an argument holding a list '
        "placeholder is repeated for each item; empty: no command",
    )
    cdn_purge_base_url: str = setting(
        "",
        "Base of the {url} and {urls} placeholders: the URL the CDN serves images at "
        "(default: IMGHOST_PUBLIC_BASE_URL)",
    )
    cdn_purge_batch: int = setting(
        30, "Most items one purge request or command names (list placeholders)"
    )
    cdn_purge_timeout: float = setting(
        30.0, "Seconds one purge request or command may take before the attempt fails"
    )
    cdn_purge_attempts: int = setting(
        8,
        "Attempts of a purge job before it is marked dead (retries back off exponentially, "
        "2 s doubling up to 10 minutes)",
    )
