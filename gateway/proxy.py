"""Forward one request to its upstream and stream the answer back; map upstream failures.

Request bodies are always streamed, response bodies too unless they are small (by
Content-Length). The request target is sent byte for byte as the policy matched it
(`URL(..., encoded=True)`), so yarl cannot re-normalise it. Body-less GET/DELETE/OPTIONS to
a plain-http upstream take the cheaper `upstream_client` pools instead of the `ClientSession`;
both paths share the header rules and the answer handling below.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import aiohttp
from aiohttp import hdrs, web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from gateway.config import GatewaySettings, Network
from gateway.config_routes import UpstreamSettings
from gateway.errors import ApiError
from gateway.identity import is_forwardable
from gateway.paths import checked_host
from gateway.request_context import ACCESS_FIELDS, REQUEST_ID
from gateway.signature import REQUEST_ID_HEADER
from gateway.upstream_client import (
    UpstreamClient,
    UpstreamPool,
    UpstreamProtocolError,
    UpstreamResponse,
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
# Set by the gateway (or by aiohttp from the URL), never copied from the client.
_REPLACED = frozenset(
    {"host", "expect", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"}
)
_CHUNK = 64 * 1024
# Answers up to this size (by Content-Length) are read whole and sent in one write: cheaper
# than streaming them, and an upstream failure while reading can still become a 502/504.
_BUFFERED_MAX = 64 * 1024
# Sent through the fast client when they carry no body. Not HEAD: llhttp cannot be told
# that an answer has no body. Not POST/PUT/PATCH: aiohttp adds `Content-Length: 0` to those.
_FAST_METHODS = frozenset({"GET", "DELETE", "OPTIONS"})
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


@dataclass(frozen=True, slots=True)
class Upstream:
    origin: str  # scheme://host:port
    prefix: str  # a path prefix from the upstream URL, '' when none
    timeout: aiohttp.ClientTimeout
    fast: UpstreamPool | None  # None for https upstreams (or no fast client)


class _BodyTooLarge(Exception):
    pass


class Proxy:
    """The forwarding step; shares the process's one `ClientSession`."""

    def __init__(
        self,
        settings: GatewaySettings,
        session: aiohttp.ClientSession,
        fast: UpstreamClient | None = None,
    ) -> None:
        self._session = session
        self._max_body = settings.limits.max_body_bytes
        self._trusted: tuple[Network, ...] = settings.trusted_proxies
        self._upstreams = {
            upstream.name: Upstream(
                str(URL(upstream.url).origin()),
                URL(upstream.url).raw_path.rstrip("/"),
                aiohttp.ClientTimeout(
                    total=None,
                    sock_connect=upstream.connect_timeout_seconds,
                    sock_read=upstream.read_timeout_seconds,
                ),
                _fast_pool(fast, upstream),
            )
            for upstream in settings.upstreams
        }

    def upstream_target(self, upstream: str, path_qs: str) -> str:
        """The exact request target the upstream receives (and the one that is signed)."""
        return self._upstreams[upstream].prefix + path_qs

    def request_headers(
        self, request: web.Request, *, forward_authorization: bool
    ) -> CIMultiDict[str]:
        """Client headers minus hop-by-hop, identity and (optionally) Authorization."""
        raw = request.headers
        trusted = bool(self._trusted) and _is_trusted(request.remote or "", self._trusted)
        dropped = _DROPPED[forward_authorization, trusted]
        if hdrs.CONNECTION in raw:  # every Connection header counts, not just the first
            connection = ",".join(raw.getall(hdrs.CONNECTION))
            dropped = dropped | {token.strip().lower() for token in connection.split(",")}
        headers: CIMultiDict[str] = CIMultiDict()
        for name, value in raw.items():
            if name.lower() not in dropped and is_forwardable(name):
                headers.add(name, value)
        headers.update(_forwarded(request, trusted=trusted))
        headers[REQUEST_ID_HEADER] = request[REQUEST_ID]
        return headers

    async def forward(
        self, request: web.Request, upstream: str, target: str, headers: Mapping[str, str]
    ) -> web.StreamResponse:
        length = request.content_length
        if length is not None and length > self._max_body:
            raise _too_large()
        fields = request[ACCESS_FIELDS]
        fields["upstream"] = upstream
        started = time.perf_counter()
        chosen = self._upstreams[upstream]
        pool = chosen.fast
        if pool is not None and request.method in _FAST_METHODS and not request.body_exists:
            return await self._forward_fast(request, pool, target, headers, started)
        counter = _Counter(self._max_body)
        body = counter.stream(request.content) if request.body_exists else None
        try:
            upstream_response = await self._session.request(
                request.method,
                URL(chosen.origin + target, encoded=True),
                headers=headers,
                data=body,
                allow_redirects=False,
                timeout=chosen.timeout,
            )
        except Exception as error:
            fields["upstream_ms"] = _ms_since(started)
            raise _upstream_error(error, counter) from None
        length = upstream_response.content_length
        return await self._answer(request, upstream_response, counter, started, length)

    async def _forward_fast(
        self,
        request: web.Request,
        pool: UpstreamPool,
        target: str,
        headers: Mapping[str, str],
        started: float,
    ) -> web.StreamResponse:
        fields = request[ACCESS_FIELDS]
        counter = _Counter(self._max_body)
        try:
            upstream_response = await pool.request(request.method, target, headers.items())
        except Exception as error:
            fields["upstream_ms"] = _ms_since(started)
            raise _upstream_error(error, counter) from None
        raw_length = upstream_response.headers.get(hdrs.CONTENT_LENGTH)
        length = None if raw_length is None else int(raw_length)
        return await self._answer(request, upstream_response, counter, started, length)

    async def _answer(
        self,
        request: web.Request,
        upstream_response: aiohttp.ClientResponse | UpstreamResponse,
        counter: _Counter,
        started: float,
        length: int | None,
    ) -> web.StreamResponse:
        """Small answers with a known length are read whole (one write, and a failure while
        reading is still a clean 502/504); the rest are streamed. Releases the upstream."""
        fields = request[ACCESS_FIELDS]
        try:
            if length is not None and length <= _BUFFERED_MAX and request.method != "HEAD":
                return await _buffered(upstream_response, counter)
            fields["upstream_ms"] = _ms_since(started)
            return await self._stream_back(request, upstream_response)
        finally:
            fields.setdefault("upstream_ms", _ms_since(started))
            upstream_response.release()

    async def _stream_back(
        self, request: web.Request, upstream: aiohttp.ClientResponse | UpstreamResponse
    ) -> web.StreamResponse:
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        _copy_response_headers(upstream.headers, response)
        # Sent before the request context sees the response, so set here.
        response.headers[REQUEST_ID_HEADER] = request[REQUEST_ID]
        await response.prepare(request)
        if isinstance(upstream, UpstreamResponse):
            chunks = upstream.iter_chunks()
        else:
            chunks = upstream.content.iter_chunked(_CHUNK)
        try:
            async for chunk in chunks:
                await response.write(chunk)
        except (TimeoutError, aiohttp.ClientError, UpstreamProtocolError):
            # Headers are gone already: the only honest signal left is a cut connection.
            request[ACCESS_FIELDS]["upstream_error"] = "broken_response"
            if request.transport is not None:
                request.transport.close()
            return response
        await response.write_eof()
        return response


class _Counter:
    """Counts streamed request bytes and stops at the limit (chunked bodies have no length)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.exceeded = False

    async def stream(self, content: aiohttp.StreamReader) -> AsyncIterator[bytes]:
        total = 0
        while True:
            chunk = await content.readany()
            if not chunk:
                return
            total += len(chunk)
            if total > self.limit:
                self.exceeded = True
                raise _BodyTooLarge
            yield chunk


async def _buffered(
    upstream: aiohttp.ClientResponse | UpstreamResponse, counter: _Counter
) -> web.Response:
    try:
        body = await upstream.read()
    except Exception as error:
        raise _upstream_error(error, counter) from None
    response = web.Response(status=upstream.status, reason=upstream.reason, body=body)
    _copy_response_headers(upstream.headers, response)
    return response  # the request context sets X-Request-ID on every unsent response


def _copy_response_headers(
    upstream: CIMultiDictProxy[str] | CIMultiDict[str], response: web.StreamResponse
) -> None:
    connection = upstream.get(hdrs.CONNECTION)
    dropped = HOP_BY_HOP
    if connection:
        dropped = dropped | {token.strip().lower() for token in connection.split(",")}
    headers = response.headers
    for name, value in upstream.items():
        if name.lower() not in dropped:
            headers.add(name, value)  # add, not set: several Set-Cookie must all pass


def _forwarded(request: web.Request, *, trusted: bool) -> dict[str, str]:
    peer = request.remote or ""
    raw = request.headers
    scheme, host, chain = request.scheme, checked_host(raw.get(hdrs.HOST, "")), peer
    if trusted:
        incoming = raw.get(hdrs.X_FORWARDED_FOR)
        chain = f"{incoming}, {peer}" if incoming else peer
        scheme = raw.get(hdrs.X_FORWARDED_PROTO, scheme)
        host = raw.get(hdrs.X_FORWARDED_HOST, host)
    forwarded: dict[str, str] = {hdrs.X_FORWARDED_FOR: chain, hdrs.X_FORWARDED_PROTO: scheme}
    if host:
        forwarded[hdrs.X_FORWARDED_HOST] = host
    return forwarded


def _is_trusted(peer: str, networks: tuple[Network, ...]) -> bool:
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in network for network in networks)


def _too_large() -> ApiError:
    return ApiError(413, "the request body is too large", reason="body_too_large")


def _upstream_error(error: Exception, counter: _Counter) -> ApiError:
    if counter.exceeded:
        return _too_large()
    if isinstance(error, TimeoutError):
        return ApiError(504, "the upstream did not answer in time", reason="upstream_timeout")
    # ValueError: the fast client refused to write a header carrying CR, LF or NUL.
    if isinstance(error, aiohttp.ClientError | OSError | ValueError):
        return ApiError(502, "the upstream is unavailable", reason="upstream_unavailable")
    raise error


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def client_session(settings: GatewaySettings) -> aiohttp.ClientSession:
    """The process's one session: keep-alive pool, no cookie jar, bodies passed as they are."""
    connector = aiohttp.TCPConnector(
        limit=settings.pool.max_connections,
        keepalive_timeout=settings.pool.keepalive_timeout_seconds,
    )
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False,
        skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        timeout=aiohttp.ClientTimeout(total=None),
    )


def upstream_client(settings: GatewaySettings) -> UpstreamClient:
    """The fast path's pools: the same connection limit and idle timeout as the session."""
    return UpstreamClient(settings.pool.max_connections, settings.pool.keepalive_timeout_seconds)


def _fast_pool(fast: UpstreamClient | None, upstream: UpstreamSettings) -> UpstreamPool | None:
    url = URL(upstream.url)
    if fast is None or url.scheme != "http" or url.raw_host is None or url.port is None:
        return None
    return fast.pool(
        url.raw_host,
        url.port,
        url.host_port_subcomponent or url.raw_host,
        connect_timeout=upstream.connect_timeout_seconds,
        read_timeout=upstream.read_timeout_seconds,
    )
