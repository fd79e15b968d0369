"""The client address a per-address limit is keyed by.

The peer, unless the peer is a trusted proxy: then X-Forwarded-For is read from the right,
skipping trusted proxies, and the first address that is not one is the client (entries left of
it were written by the client and prove nothing). IPv6 clients are keyed by their /64, the
block one subscriber usually holds, so rotating addresses inside it does not reset the limit.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from aiohttp import hdrs, web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_MAX_FORWARDED_CHARS = 2048


def client_key(request: web.BaseRequest, trusted: tuple[Network, ...]) -> str:
    peer = _address(request.remote or "")
    if peer is None:
        return "unknown"  # a unix socket: one bucket for all of them
    if trusted and _is_trusted(peer, trusted):
        peer = _forwarded_client(request, peer, trusted)
    return _key(peer)


def _forwarded_client(
    request: web.BaseRequest, peer: Address, trusted: tuple[Network, ...]
) -> Address:
    chain = ",".join(request.headers.getall(hdrs.X_FORWARDED_FOR, ()))
    if len(chain) > _MAX_FORWARDED_CHARS:
        return peer
    client = peer
    for entry in reversed(chain.split(",")):
        address = _address(entry.strip())
        if address is None:
            break  # garbage: the last address a trusted hop vouched for stands
        client = address
        if not _is_trusted(address, trusted):
            break
    return client


def _is_trusted(address: Address, trusted: tuple[Network, ...]) -> bool:
    return any(address in network for network in trusted)


@lru_cache(maxsize=4096)
def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@lru_cache(maxsize=4096)
def _key(address: Address) -> str:
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
