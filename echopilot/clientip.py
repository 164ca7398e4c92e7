"""The address of the client behind the load balancers we run.

`REMOTE_ADDR` is the last hop: behind a balancer, the balancer. Each proxy appends the address it
was called from to `X-Forwarded-For`, so the header read from the right is a chain of hops, nearest
first; anything to the left of the first hop we did not run is whatever the client chose to send.
A hop is trusted when it is one of the nearest TRUSTED_PROXY_COUNT hops or lies in one of
TRUSTED_PROXY_NETWORKS; the client is the first hop that is not. With neither set (the default)
the header is never read.

Libraries that count proxies inside the header (ipware's `proxy_count`) trust its leftmost entries
behind a balancer that appends only the client, which is the one part a client can forge.
"""

import ipaddress
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def client_ip(request: HttpRequest) -> str | None:
    """The client's address for `request`, through the trusted proxies (see the module docstring)."""
    return client_ip_from(request.META)


def client_ip_from(meta: Mapping[str, Any]) -> str | None:
    """The client's address from a request's META (see the module docstring)."""
    remote: str | None = str(meta.get("REMOTE_ADDR") or "") or None
    count, networks = settings.TRUSTED_PROXY_COUNT, _networks(tuple(settings.TRUSTED_PROXY_NETWORKS))
    if not (count or networks) or remote is None:
        return remote
    hops = [remote, *reversed(str(meta.get("HTTP_X_FORWARDED_FOR", "")).split(","))]
    nearest: str = remote
    for depth, hop in enumerate(hops):
        address = parse(hop)
        if address is None:
            # A hop we cannot read was written before our proxies: the client is past knowing.
            return nearest
        if not (depth < count or any(address in network for network in networks)):
            return str(address)
        nearest = str(address)
    return nearest  # every hop is ours: the farthest is the client


def parse(hop: str) -> Address | None:
    """An address from one X-Forwarded-For entry ("203.0.113.7", "203.0.113.7:5123", "[2001:db8::1]:443")."""
    text = hop.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)
