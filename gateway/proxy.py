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
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from functools import lru_cache

import aiohttp
from aiohttp import HttpVersion11, hdrs, web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from gateway.config import GatewaySettings, Network, UpstreamSettings
from gateway.identity import is_forwardable
from gateway.paths import checked_host
from gateway.request_context import BeforeSend, Exchange, ms_since
from gateway.signature import REQUEST_ID_HEADER
from gateway.upstream_client import (
    UpstreamClient,
    UpstreamPool,
    UpstreamProtocolError,
    UpstreamResponse,
)
from service_plumbing.errors import ApiError

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
        *,
        before_send: BeforeSend | None = None,
    ) -> None:
        self._session = session
        self._before_send = before_send
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
        self, request: web.BaseRequest, *, forward_authorization: bool
    ) -> list[tuple[str, str]]:
        """Client headers minus hop-by-hop, identity and (optionally) Authorization, then the
        gateway's own X-Forwarded-*. A list: built once, written once."""
        raw = request.headers
        trusted = bool(self._trusted) and _is_trusted(request.remote or "", self._trusted)
        dropped = _DROPPED[forward_authorization, trusted]
        headers = [(name, value) for name, value in raw.items() if _kept(name, dropped)]
        if hdrs.CONNECTION in raw:  # every Connection header counts, not just the first
            connection = ",".join(raw.getall(hdrs.CONNECTION))
            nominated = {token.strip().lower() for token in connection.split(",")}
            headers = [item for item in headers if item[0].lower() not in nominated]
        headers += _forwarded(request, trusted=trusted)
        return headers

    def forward(
        self,
        request: web.BaseRequest,
        upstream: str,
        target: str,
        headers: list[tuple[str, str]],
        context: Exchange,
    ) -> Awaitable[web.StreamResponse]:
        """Checks, then the coroutine that forwards (returned, not awaited here: one coroutine
        frame fewer on the hot path)."""
        length = request.content_length
        if length is not None and length > self._max_body:
            raise _too_large()
        expect = request.headers.get(hdrs.EXPECT)
        if expect and expect.lower() != "100-continue":
            raise ApiError(417, "only Expect: 100-continue is supported", reason="bad_expect")
        context.fields["upstream"] = upstream
        chosen = self._upstreams[upstream]
        pool = chosen.fast
        if pool is not None and request.method in _FAST_METHODS and not request.body_exists:
            return self._forward_fast(request, pool, target, headers, context)
        return self._forward_session(request, chosen, target, headers, context)

    async def _forward_session(
        self,
        request: web.BaseRequest,
        chosen: Upstream,
        target: str,
        headers: list[tuple[str, str]],
        context: Exchange,
    ) -> web.StreamResponse:
        counter = _Counter(self._max_body)
        body = None
        if request.body_exists:
            if request.headers.get(hdrs.EXPECT):
                await _continue(request)  # routed, authorised and not too large: send it
            body = counter.stream(request.content)
        started = time.perf_counter()
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
            context.fields["upstream_ms"] = ms_since(started)
            raise _upstream_error(error, counter) from None
        length = upstream_response.content_length
        return await self._answer(request, upstream_response, context, started, length, counter)

    async def _forward_fast(
        self,
        request: web.BaseRequest,
        pool: UpstreamPool,
        target: str,
        headers: list[tuple[str, str]],
        context: Exchange,
    ) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            upstream_response = await pool.request(request.method, target, headers)
        except Exception as error:
            context.fields["upstream_ms"] = ms_since(started)
            raise _upstream_error(error, None) from None
        return await self._answer(
            request, upstream_response, context, started, upstream_response.content_length
        )

    async def _answer(
        self,
        request: web.BaseRequest,
        upstream_response: aiohttp.ClientResponse | UpstreamResponse,
        context: Exchange,
        started: float,
        length: int | None,
        counter: _Counter | None = None,
    ) -> web.StreamResponse:
        """Small answers with a known length are read whole (one write, and a failure while
        reading is still a clean 502/504); the rest are streamed. Releases the upstream."""
        fields = context.fields
        try:
            if length is not None and length <= _BUFFERED_MAX and request.method != "HEAD":
                return await _buffered(upstream_response, counter)
            fields["upstream_ms"] = ms_since(started)
            return await self._stream_back(request, upstream_response, context)
        finally:
            if "upstream_ms" not in fields:
                fields["upstream_ms"] = ms_since(started)
            upstream_response.release()

    async def _stream_back(
        self,
        request: web.BaseRequest,
        upstream: aiohttp.ClientResponse | UpstreamResponse,
        context: Exchange,
    ) -> web.StreamResponse:
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        _copy_response_headers(upstream.headers, response)
        # Sent before the request context sees the response, so finished here.
        response.headers[REQUEST_ID_HEADER] = context.request_id
        if self._before_send is not None:
            self._before_send(request, response)
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
            context.fields["upstream_error"] = "broken_response"
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
    upstream: aiohttp.ClientResponse | UpstreamResponse, counter: _Counter | None
) -> web.Response:
    try:
        body = await upstream.read()
    except Exception as error:
        raise _upstream_error(error, counter) from None
    response = web.Response(status=upstream.status, reason=upstream.reason, body=body)
    _copy_response_headers(upstream.headers, response)
    return response  # the request context sets X-Request-ID on every unsent response


async def _continue(request: web.BaseRequest) -> None:
    """The interim answer to `Expect: 100-continue` (RFC 9110 10.1.1), sent only once the
    request may go through, so a refused upload never sends its body."""
    if request.version >= HttpVersion11:
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # the answer proper has not started yet


def _copy_response_headers(
    upstream: CIMultiDictProxy[str] | CIMultiDict[str], response: web.StreamResponse
) -> None:
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


def _is_trusted(peer: str, networks: tuple[Network, ...]) -> bool:
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in network for network in networks)


def _too_large() -> ApiError:
    return ApiError(413, "the request body is too large", reason="body_too_large")


def _upstream_error(error: Exception, counter: _Counter | None) -> ApiError:
    if counter is not None and counter.exceeded:
        return _too_large()
    if isinstance(error, TimeoutError):
        return ApiError(504, "the upstream did not answer in time", reason="upstream_timeout")
    # ValueError: the fast client refused to write a header carrying CR, LF or NUL.
    if isinstance(error, aiohttp.ClientError | OSError | ValueError):
        return ApiError(502, "the upstream is unavailable", reason="upstream_unavailable")
    raise error


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
