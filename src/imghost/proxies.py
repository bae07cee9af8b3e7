"""Which peers may tell us the client's address (``X-Forwarded-For``).

Anonymous rate limits count by client address. A header that any caller can
set must only be believed from a reverse proxy the operator names: uvicorn's
own default trusts ``X-Forwarded-For`` from 127.0.0.1 (or ``$FORWARDED_ALLOW_IPS``),
so a caller on the same host, or behind anything that forwards to loopback
without rewriting the header, could rotate it and dodge every per-address limit.
Whoever builds a ``uvicorn.Config`` for the app passes :func:`uvicorn_proxy_kwargs`.
"""

from __future__ import annotations

import ipaddress
from typing import Any

ANY = "*"  # every peer: only when nothing but the proxy can reach the port
# The ASGI scope key of the connection's own peer, (host, port), set by the HTTP
# protocol (``server_protocol``): uvicorn's proxy-header handling replaces
# ``scope["client"]`` with the forwarded address, after which nothing tells
# whether the request came through a trusted proxy.
PEER = "imghost.peer"


def parse_trusted_proxies(raw: str) -> list[str]:
    """The listed addresses and networks, normalised for uvicorn; [] for none.

    ValueError names an entry that is neither an address nor a network.
    """
    networks: list[str] = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        if part == ANY:
            return [ANY]
        try:
            network = ipaddress.ip_network(part, strict=False)
        except ValueError:
            raise ValueError(
                f"{part!r} is not an IP address or CIDR network (names are not accepted: "
                "list the proxies' addresses)"
            ) from None
        # uvicorn wants hosts as addresses and networks without host bits.
        single = network.num_addresses == 1
        networks.append(str(network.network_address) if single else str(network))
    return networks


def uvicorn_proxy_kwargs(trusted_proxies: str) -> dict[str, Any]:
    """``proxy_headers``/``forwarded_allow_ips`` for ``uvicorn.run``/``uvicorn.Config``.

    Always explicit: left out, uvicorn trusts loopback (or the environment).
    """
    trusted = parse_trusted_proxies(trusted_proxies)
    if not trusted:
        return {"proxy_headers": False, "forwarded_allow_ips": []}
    return {"proxy_headers": True, "forwarded_allow_ips": trusted}


class TrustedPeers:
    """Whether a connection's peer is one of the trusted proxies: what may tell us
    more than the client's address, such as the request's id (``X-Request-Id``)."""

    def __init__(self, trusted_proxies: str) -> None:
        entries = parse_trusted_proxies(trusted_proxies)
        self.any = entries == [ANY]
        self.networks = [ipaddress.ip_network(entry) for entry in entries if entry != ANY]

    def __contains__(self, host: object) -> bool:
        if self.any:
            return True
        if not self.networks or not isinstance(host, str):
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False  # a unix socket's path, say: not a listed proxy
        return any(address in network for network in self.networks)
