"""The access line's operator fields: service, client address, bytes in and out, user agent,
and the query string with the values of sensitive-looking keys redacted."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import unquote_plus

from aiohttp import hdrs, web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

USER_AGENT_MAX = 256
QUERY_MAX = 1024
# A query key containing any of these has its value replaced (api_key, access_token, ...).
SENSITIVE_QUERY_WORDS = ("token", "code", "password", "secret", "key", "signature", "auth")
REDACTED = "[redacted]"


class AccessFields:
    """Adds the fields to a finished request's access line. `trusted_proxies`: peers whose
    X-Forwarded-For is believed, so the client is the first untrusted address in it."""

    __slots__ = ("_service", "_trusted")

    def __init__(self, service: str, trusted_proxies: tuple[Network, ...] = ()) -> None:
        self._service = service
        self._trusted = trusted_proxies

    def add(
        self, request: web.BaseRequest, response: web.StreamResponse, line: dict[str, Any]
    ) -> None:
        line["service"] = self._service
        line["client"] = self.client(request) if self._trusted else request.remote
        line["bytes_in"] = request.content_length or 0
        sent = response.content_length  # None when streamed without a length: count then
        line["bytes_out"] = response.body_length if sent is None else sent
        headers = request.headers
        user_agent = headers.get(hdrs.USER_AGENT)
        if user_agent:
            line["user_agent"] = user_agent[:USER_AGENT_MAX]
        query = request.query_string
        if query:
            line["query"] = redact_query(query[:QUERY_MAX])

    def client(self, request: web.BaseRequest) -> str:
        peer = request.remote or ""
        if not self._trusted or not _within(peer, self._trusted):
            return peer
        forwarded = ",".join(request.headers.getall(hdrs.X_FORWARDED_FOR, ()))
        for hop in reversed(forwarded.split(",")):
            address = hop.strip()
            if address and not _within(address, self._trusted):
                return address[:64]
        return peer


def redact_query(query: str) -> str:
    """`a=1&access_token=xyz` -> `a=1&access_token=[redacted]`; other bytes as they came."""
    parts = query.split("&")
    for index, part in enumerate(parts):
        name, equals, _ = part.partition("=")
        lowered = unquote_plus(name).lower()
        if equals and any(word in lowered for word in SENSITIVE_QUERY_WORDS):
            parts[index] = f"{name}={REDACTED}"
    return "&".join(parts)


def _within(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in networks)
