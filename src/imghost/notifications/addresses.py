"""Where a webhook (or an upload's sourceUrl) may point (SSRF rules) and where
its request really goes: the one guard for every URL a user chooses and the
server requests (``notifications.tasks`` and ``uploads.fetch`` use it).

A webhook URL is chosen by a user and requested by our server, so it could
be aimed at the server's own network: loopback, private ranges, link-local
(cloud metadata at 169.254.169.254), multicast. Those are refused unless
``IMGHOST_WEBHOOK_ALLOW_PRIVATE`` is set. The name is resolved again at every
delivery and the request is sent to the address that was checked, so a DNS
answer that changes between check and connect (rebinding) cannot slip by.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from imghost.errors import AppError

MAX_URL = 2048
RESOLVE_TIMEOUT = 5.0  # seconds a request waits for DNS when a webhook is saved

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefused(Exception):
    """The URL cannot be requested: a sentence says why."""


class Unresolvable(AddressRefused):
    """The host name has no address (now)."""


@dataclass(frozen=True)
class Target:
    url: str  # the URL to request: the host replaced by the checked address
    host_header: str  # the original host[:port], sent as Host
    server_name: str | None  # TLS server name (SNI and certificate check) for https


def check_url_shape(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an acceptable URL, or AddressRefused."""
    if len(url) > MAX_URL:
        raise AddressRefused(f"The URL is longer than {MAX_URL} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise AddressRefused("This is not a valid URL.") from None
    if parts.scheme not in ("http", "https"):
        raise AddressRefused("The URL must start with http:// or https://.")
    if not parts.hostname:
        raise AddressRefused("The URL names no host.")
    if port == 0:
        raise AddressRefused("Port 0 cannot be connected to.")
    if parts.username is not None or parts.password is not None:
        raise AddressRefused("Put no credentials in the URL; verify the signature instead.")
    if parts.fragment:
        raise AddressRefused("The URL cannot have a #fragment.")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


# IPv6 ranges whose addresses carry an IPv4 address in their last 32 bits
# (RFC 4291 IPv4-compatible and IPv4-mapped, RFC 6145 IPv4-translated, RFC
# 6052 NAT64): a gateway or the host's own stack connects to that IPv4
# address, so it is the one to check. ``ipaddress`` calls most of them global.
_EMBED_LAST_32 = tuple(
    ipaddress.IPv6Network(n) for n in ("::/96", "::ffff:0:0/96", "::ffff:0:0:0/96", "64:ff9b::/96")
)
# RFC 8215 local-use NAT64: where it translates to is a local decision (its
# IPv4 may sit at several offsets): never a public destination.
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")
# The interface id of an ISATAP address, less its universal/local bit: the last
# 32 bits are the IPv4 address of the tunnel's far end.
_ISATAP = 0x00005EFE


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses a packet to ``ip`` may end up at (6to4 and Teredo too)."""
    found: list[ipaddress.IPv4Address] = []
    if any(ip in net for net in _EMBED_LAST_32):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.sixtofour is not None:  # 2002:AABB:CCDD::/48 -> relay to A.B.C.D
        found.append(ip.sixtofour)
    if ip.teredo is not None:  # 2001::/32: the Teredo server and the (obfuscated) client
        found.extend(ip.teredo)
    if (int(ip) >> 32) & 0xFDFFFFFF == _ISATAP:  # RFC 5214 ISATAP: ::[02]00:5efe:A.B.C.D
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def _allowed_one(ip: IPAddress, allow_private: bool) -> bool:
    if ip.is_unspecified or ip.is_multicast:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        # fec0::/10 is deprecated but still routed inside some networks, and
        # Python 3.11 calls it global.
        return allow_private
    return allow_private or ip.is_global


def allowed(ip: IPAddress, allow_private: bool) -> bool:
    if isinstance(ip, ipaddress.IPv4Address):
        return _allowed_one(ip, allow_private)
    if ip in _LOCAL_NAT64 and not allow_private:
        return False
    inner = embedded_ipv4(ip)
    if ip.ipv4_mapped is not None or ip in _EMBED_LAST_32[2]:
        # Mapped/translated: the IPv4 address is the destination itself.
        return _allowed_one(inner[0], allow_private)
    return _allowed_one(ip, allow_private) and all(_allowed_one(v4, allow_private) for v4 in inner)


async def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):
        # UnicodeError: a name IDNA cannot encode (too long a label, say).
        raise Unresolvable(f"The host {host!r} does not resolve.") from None
    found: list[IPAddress] = []
    for *_, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in found:
            found.append(ip)
    if not found:
        raise Unresolvable(f"The host {host!r} does not resolve.")
    return found


async def target(url: str, allow_private: bool) -> Target:
    """Check ``url`` and pin it to one allowed address; AddressRefused if none.

    Every address the name resolves to must be allowed: a name that mixes a
    public and a private address is refused rather than used half-way.
    """
    scheme, host, port = check_url_shape(url)
    addresses = await resolve(host, port)
    for ip in addresses:
        if not allowed(ip, allow_private):
            raise AddressRefused(
                f"{host} is or resolves to {ip}, a loopback, private, link-local or reserved "
                "address; the server only calls public addresses."
            )
    ip = addresses[0]
    parts = urlsplit(url)
    literal = f"[{ip}]" if ip.version == 6 else str(ip)
    pinned = parts._replace(netloc=f"{literal}:{port}").geturl()
    is_literal = host == str(ip)
    return Target(
        url=pinned,
        host_header=parts.netloc,
        server_name=host if scheme == "https" and not is_literal else None,
    )


async def check_for_api(url: str, allow_private: bool) -> None:
    """The same checks at creation, as problem+json answers."""
    try:
        check_url_shape(url)
    except AddressRefused as exc:
        raise AppError(422, "invalid_webhook_url", str(exc)) from None
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT):
            await target(url, allow_private)
    except TimeoutError:
        raise AppError(
            422, "invalid_webhook_url", "The host name did not resolve in time."
        ) from None
    except Unresolvable as exc:
        raise AppError(422, "invalid_webhook_url", str(exc)) from None
    except AddressRefused as exc:
        raise AppError(422, "webhook_address_not_allowed", str(exc)) from None
