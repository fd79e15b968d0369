"""The header rules of forwarding: which client headers reach the upstream (identity headers,
in any spelling, never), the checked Host and the gateway's own X-Forwarded-*, and which
answer headers go back.

The signed identity that replaces the identity headers is `gateway/signature.py`'s.

Names are compared after folding (lower case, `_` read as `-`) because some backends treat
`X_User_Id` and `X-User-Id` as the same header. The fold goes further than the contract's
`_`: every character a header name may hold besides letters and digits (`.`, `~`, `+`, `!`,
...) is read as `-` too, since CGI-style environments map all of them to `_`.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

from aiohttp import hdrs, web
from multidict import CIMultiDict

from gateway.config import Network
from service_plumbing.errors import ApiError

_SEPARATORS = re.compile(r"[^a-z0-9]")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9-]+")
# A Host header: a DNS name or IPv4 address, or an IPv6 literal, and an optional port.
_HOST = re.compile(r"(?:[A-Za-z0-9_\-.]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
# Method and URL overrides (the policy checked one method and path, a backend honouring these
# would run another: IIS/Symfony/Zend read X-Original-URL and X-Rewrite-URL, others the rest)
# and `Proxy` (httpoxy: CGI turns it into HTTP_PROXY, the backend's outgoing calls obey it).
_NEVER_FORWARDED = frozenset(
    {
        "x-http-method-override",
        "x-http-method",
        "x-method-override",
        "x-original-url",
        "x-original-uri",
        "x-original-path",
        "x-rewrite-url",
        "x-override-url",
        "x-forwarded-uri",
        "x-forwarded-url",
        "x-forwarded-path",
        "x-envoy-original-path",
        "proxy",
    }
)
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Set by the gateway (or by its client: Host and the body's framing), never copied.
_REPLACED = frozenset(
    {"host", "expect", "content-length", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"}
)
# Other claims about the client's address or scheme, believed only from a trusted proxy.
_PROXY_CLAIMS = frozenset(
    {"forwarded", "x-real-ip", "x-forwarded-port", "x-forwarded-prefix", "x-forwarded-server"}
)
# (forward Authorization?, peer is a trusted proxy?) -> header names not copied.
_DROPPED = {
    (True, True): HOP_BY_HOP | _REPLACED,
    (True, False): HOP_BY_HOP | _REPLACED | _PROXY_CLAIMS,
    (False, True): HOP_BY_HOP | _REPLACED | {"authorization"},
    (False, False): HOP_BY_HOP | _REPLACED | _PROXY_CLAIMS | {"authorization"},
}


@lru_cache(maxsize=1024)
def is_identity_header(name: str) -> bool:
    """True for any spelling of X-User-Id, X-User-*, X-Gateway-* or X-Request-ID."""
    folded = _SEPARATORS.sub("-", name.lower())
    return (
        folded.startswith(("x-user-", "x-gateway-"))
        or folded == "x-user-id"
        or folded == "x-request-id"
    )


@lru_cache(maxsize=1024)
def is_forwardable(name: str) -> bool:
    """False for identity headers in any spelling, and for every name holding anything but
    letters, digits and `-` (as nginx does by default): backends fold `X_Forwarded_For` or
    `Transfer_Encoding` into the real header, which would let a client spoof the one or
    desync the other. Method overrides and `Proxy` (httpoxy) go too."""
    return (
        _PLAIN_NAME.fullmatch(name) is not None
        and not is_identity_header(name)
        and name.lower() not in _NEVER_FORWARDED
    )


def request_headers(
    request: web.BaseRequest, trusted_proxies: tuple[Network, ...], *, forward_authorization: bool
) -> list[tuple[str, str]]:
    """Client headers minus hop-by-hop, identity and (optionally) Authorization, then the
    gateway's own X-Forwarded-*. A list: built once, written once."""
    raw = request.headers
    trusted = bool(trusted_proxies) and _is_trusted(request.remote or "", trusted_proxies)
    dropped = _DROPPED[forward_authorization, trusted]
    headers = [(name, value) for name, value in raw.items() if _kept(name, dropped)]
    if hdrs.CONNECTION in raw:  # every Connection header counts, not just the first
        connection = ",".join(raw.getall(hdrs.CONNECTION))
        nominated = {token.strip().lower() for token in connection.split(",")}
        headers = [item for item in headers if item[0].lower() not in nominated]
    headers += _forwarded(request, trusted=trusted)
    return headers


def copy_response_headers(upstream: CIMultiDict[str], response: web.StreamResponse) -> None:
    """The upstream's answer headers minus hop-by-hop ones (and those its Connection names)."""
    connection = upstream.get(hdrs.CONNECTION)
    dropped = HOP_BY_HOP
    if connection:
        dropped = dropped | {token.strip().lower() for token in connection.split(",")}
    # extend, not set: several Set-Cookie must all pass
    response.headers.extend([item for item in upstream.items() if item[0].lower() not in dropped])


@lru_cache(maxsize=1024)
def _kept(name: str, dropped: frozenset[str]) -> bool:
    """Whether a client header of this name is forwarded (one cached answer per name).
    `dropped` is always one of the four fixed `_DROPPED` sets, never one built from a
    request: a client-made set in the cache key would be kept alive by the cache."""
    return name.lower() not in dropped and is_forwardable(name)


def _forwarded(request: web.BaseRequest, *, trusted: bool) -> list[tuple[str, str]]:
    peer = request.remote or ""
    raw = request.headers
    scheme, host, chain = request.scheme, checked_host(raw.get(hdrs.HOST, "")), peer
    if trusted:
        incoming = raw.get(hdrs.X_FORWARDED_FOR)
        chain = f"{incoming}, {peer}" if incoming else peer
        scheme = raw.get(hdrs.X_FORWARDED_PROTO, scheme)
        host = raw.get(hdrs.X_FORWARDED_HOST, host)
    forwarded: list[tuple[str, str]] = [
        (hdrs.X_FORWARDED_FOR, chain),
        (hdrs.X_FORWARDED_PROTO, scheme),
    ]
    if host:
        forwarded.append((hdrs.X_FORWARDED_HOST, host))
    return forwarded


def checked_host(host: str) -> str:
    """The Host header when it is a plain host[:port] (or absent), else 400 (RFC 9112 3.2):
    it is passed on as `X-Forwarded-Host`, where a list or junk could be read as another host."""
    if host and _HOST.fullmatch(host) is None:  # HTTP/1.0 may send none
        raise ApiError(400, "the Host header is not a valid host", reason="bad_host")
    return host


def _is_trusted(peer: str, networks: tuple[Network, ...]) -> bool:
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in network for network in networks)
