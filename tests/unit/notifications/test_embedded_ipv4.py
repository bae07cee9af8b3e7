"""The webhook SSRF guard sees through IPv6 forms that embed an IPv4 address."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from imghost.notifications import addresses


@pytest.mark.parametrize(
    "ip",
    [
        "::127.0.0.1",  # IPv4-compatible (deprecated, still routed by some stacks)
        "::10.0.0.1",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:169.254.169.254",
        "::ffff:0:127.0.0.1",  # IPv4-translated (SIIT)
        "64:ff9b::7f00:1",  # NAT64 well-known prefix -> 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # -> 169.254.169.254 (cloud metadata)
        "64:ff9b::c0a8:101",  # -> 192.168.1.1
        "64:ff9b:1::7f00:1",  # local-use NAT64 (RFC 8215)
        "64:ff9b:1:5db8:d7:e00::",  # local-use NAT64, even to a public IPv4
        "2002:7f00:1::",  # 6to4 relay to 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 to 169.254.169.254
        "2002:c0a8:101::",  # 6to4 to 192.168.1.1
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
        "2001:0:5db8:d70e::3f57:fefe",  # Teredo, client 192.168.1.1
        "2001:4860::200:5efe:a9fe:a9fe",  # ISATAP (global prefix) to 169.254.169.254
        "2001:4860::5efe:7f00:1",  # ISATAP, local interface id, to 127.0.0.1
        "fec0::1",  # site-local (deprecated; Python 3.11 calls it global)
    ],
)
def test_embedded_non_public_ipv4_is_refused(ip: str) -> None:
    address = ipaddress.ip_address(ip)
    assert addresses.allowed(address, allow_private=False) is False

    async def check() -> None:
        with pytest.raises(addresses.AddressRefused):
            await addresses.target(f"http://[{ip}]/hook", allow_private=False)

    asyncio.run(check())


@pytest.mark.parametrize(
    "ip",
    [
        "64:ff9b::5db8:d70e",  # NAT64 to 93.184.215.14
        "2002:5db8:d70e::1",  # 6to4 to 93.184.215.14
        "::ffff:93.184.215.14",
        "2606:4700::1111",
        "2001:4860::200:5efe:808:808",  # ISATAP to 8.8.8.8
    ],
)
def test_embedded_public_ipv4_still_passes(ip: str) -> None:
    assert addresses.allowed(ipaddress.ip_address(ip), allow_private=False) is True


def test_embedded_unspecified_or_multicast_is_refused_even_when_private_is_allowed() -> None:
    for ip in ("::ffff:0.0.0.0", "64:ff9b::e000:1", "2002:e000:1::"):
        assert addresses.allowed(ipaddress.ip_address(ip), allow_private=True) is False
    assert addresses.allowed(ipaddress.ip_address("64:ff9b::7f00:1"), allow_private=True)
