"""Forward one request to its upstream and stream the answer back; map upstream failures.

Every request takes the same road: the project's HTTP/1.1 client (`http1/`), whatever its
method, body or framing, to plain-http and https upstreams alike. The request target is sent
byte for byte as the policy matched it. The body is forwarded as the client sent it (the
server does not decompress it: see `serve.runner_options`): a small one is read whole before
an upstream connection is taken, so a trickling client holds only its own socket; a larger one
is streamed. Answers are streamed back unless they are small (by Content-Length).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass

import aiohttp
from aiohttp import HttpVersion11, hdrs, web
from yarl import URL

from gateway.config import GatewaySettings, UpstreamSettings
from gateway.forward import headers
from gateway.forward.http1.pool import (
    LateHeaders,
    PoolExhausted,
    StreamedBody,
    UpstreamClient,
    UpstreamPool,
    UpstreamProtocolError,
    UpstreamResponse,
)
from gateway.request_context import Exchange, ms_since
from service_plumbing.errors import ApiError

_CHUNK = 64 * 1024
# Answers up to this size (by Content-Length) are read whole and sent in one write: cheaper
# than streaming them, and an upstream failure while reading can still become a 502/504.
_BUFFERED_MAX = 64 * 1024


@dataclass(frozen=True, slots=True)
class Upstream:
    prefix: str  # a path prefix from the upstream URL, '' when none
    pool: UpstreamPool


class Proxy:
    """The forwarding step: one pool per upstream, all in one `UpstreamClient`."""

    def __init__(self, settings: GatewaySettings, client: UpstreamClient) -> None:
        limits = settings.limits
        self._max_body = limits.max_body_bytes
        self._buffered_body = limits.buffered_body_bytes
        self._body_idle = limits.body_idle_timeout_seconds
        self._trusted = settings.trusted_proxies
        tls = _tls_context(settings.upstreams)
        self._upstreams = {
            upstream.name: Upstream(
                URL(upstream.url).raw_path.rstrip("/"), _pool(client, upstream, tls)
            )
            for upstream in settings.upstreams
        }

    def upstream_target(self, upstream: str, path_qs: str) -> str:
        """The exact request target the upstream receives (and the one that is signed)."""
        return self._upstreams[upstream].prefix + path_qs

    def request_headers(
        self, request: web.BaseRequest, *, forward_authorization: bool
    ) -> list[tuple[str, str]]:
        return headers.request_headers(
            request, self._trusted, forward_authorization=forward_authorization
        )

    def forward(
        self,
        request: web.BaseRequest,
        upstream: str,
        target: str,
        forwarded: list[tuple[str, str]],
        context: Exchange,
        late_headers: LateHeaders | None = None,
    ) -> Awaitable[web.StreamResponse]:
        """Checks, then the coroutine that forwards (returned, not awaited here: one coroutine
        frame fewer on the hot path). `late_headers` are made when the request is written."""
        length = request.content_length
        if length is not None and length > self._max_body:
            raise _too_large()
        expect = request.headers.get(hdrs.EXPECT)
        if expect and expect.lower() != "100-continue":
            raise ApiError(417, "only Expect: 100-continue is supported", reason="bad_expect")
        context.fields["upstream"] = upstream
        pool = self._upstreams[upstream].pool
        return self._forward(request, pool, target, forwarded, context, late_headers)

    async def _forward(
        self,
        request: web.BaseRequest,
        pool: UpstreamPool,
        target: str,
        forwarded: list[tuple[str, str]],
        context: Exchange,
        late_headers: LateHeaders | None,
    ) -> web.StreamResponse:
        body = await self._body(request) if request.body_exists else None
        started = time.perf_counter()
        try:
            upstream_response = await pool.request(
                request.method, target, forwarded, body=body, late_headers=late_headers
            )
        except Exception as error:
            context.fields["upstream_ms"] = ms_since(started)
            raise _upstream_error(error) from None
        return await self._answer(request, upstream_response, context, started)

    async def _body(self, request: web.BaseRequest) -> bytes | StreamedBody:
        """The body whole when it is small, else what came so far and the rest as it comes."""
        if request.headers.get(hdrs.EXPECT):
            await _continue(request)  # routed, authorised and not too large: send it
        reader = _BodyReader(request.content, self._max_body, self._body_idle)
        parts: list[bytes] = []
        size = 0
        while size <= self._buffered_body:
            chunk = await reader.next()
            if not chunk:
                return b"".join(parts)
            parts.append(chunk)
            size += len(chunk)
        return StreamedBody(reader.after(parts), request.content_length)

    async def _answer(
        self,
        request: web.BaseRequest,
        upstream_response: UpstreamResponse,
        context: Exchange,
        started: float,
    ) -> web.StreamResponse:
        """Small answers with a known length are read whole (one write, and a failure while
        reading is still a clean 502/504); the rest are streamed. Releases the upstream."""
        fields = context.fields
        length = upstream_response.content_length
        try:
            if length is not None and length <= _BUFFERED_MAX and request.method != "HEAD":
                return await _buffered(upstream_response)
            fields["upstream_ms"] = ms_since(started)
            return await self._stream_back(request, upstream_response, context)
        finally:
            if "upstream_ms" not in fields:
                fields["upstream_ms"] = ms_since(started)
            upstream_response.release()

    async def _stream_back(
        self, request: web.BaseRequest, upstream: UpstreamResponse, context: Exchange
    ) -> web.StreamResponse:
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        headers.copy_response_headers(upstream.headers, response)
        context.finish_headers(request, response)  # sent before the request context sees it
        await response.prepare(request)
        try:
            async for chunk in upstream.iter_chunks():
                await response.write(chunk)
        except (TimeoutError, UpstreamProtocolError):
            # Headers are gone already: the only honest signal left is a cut connection.
            context.fields["upstream_error"] = "broken_response"
            if request.transport is not None:
                request.transport.close()
            return response
        await response.write_eof()
        return response


class _BodyReader:
    """Reads the client's raw body: each chunk within the idle timeout, at most `limit`
    bytes in all (a chunked body has no length to check up front)."""

    def __init__(self, content: aiohttp.StreamReader, limit: int, idle: float) -> None:
        self._content = content
        self._limit = limit
        self._idle = idle
        self._total = 0

    async def next(self) -> bytes:
        try:
            async with asyncio.timeout(self._idle):
                chunk = await self._content.readany()
        except TimeoutError:
            raise ApiError(
                408, "the request body is too slow", code="request_timeout", reason="body_timeout"
            ) from None
        except (web.RequestPayloadError, ConnectionError):
            raise ApiError(400, "the request body is incomplete", reason="bad_body") from None
        self._total += len(chunk)
        if self._total > self._limit:
            raise _too_large()
        return chunk

    async def after(self, parts: list[bytes]) -> AsyncIterator[bytes]:
        for part in parts:
            yield part
        while chunk := await self.next():
            yield chunk


async def _buffered(upstream: UpstreamResponse) -> web.Response:
    try:
        body = await upstream.read()
    except Exception as error:
        raise _upstream_error(error) from None
    response = web.Response(status=upstream.status, reason=upstream.reason, body=body)
    headers.copy_response_headers(upstream.headers, response)
    return response  # the request context sets X-Request-ID on every unsent response


async def _continue(request: web.BaseRequest) -> None:
    """The interim answer to `Expect: 100-continue` (RFC 9110 10.1.1), sent only once the
    request may go through, so a refused upload never sends its body."""
    if request.version >= HttpVersion11:
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # the answer proper has not started yet


def _too_large() -> ApiError:
    return ApiError(413, "the request body is too large", reason="body_too_large")


def _upstream_error(error: Exception) -> ApiError:
    if isinstance(error, ApiError):  # the client's body was too slow, too large or cut
        return error
    if isinstance(error, PoolExhausted):
        return ApiError(
            503, "no upstream connection is free", code="upstream_unavailable", reason="pool_wait"
        )
    if isinstance(error, TimeoutError):
        return ApiError(504, "the upstream did not answer in time", reason="upstream_timeout")
    # ValueError: the client refused to write a header carrying CR, LF or NUL.
    if isinstance(error, OSError | ValueError):
        return ApiError(502, "the upstream is unavailable", reason="upstream_unavailable")
    raise error


def upstream_client(settings: GatewaySettings) -> UpstreamClient:
    """The process's upstream connections: one limit and idle timeout across every upstream."""
    pool = settings.pool
    return UpstreamClient(
        pool.max_connections,
        pool.keepalive_timeout_seconds,
        wait_timeout=pool.wait_timeout_seconds,
    )


def _tls_context(upstreams: tuple[UpstreamSettings, ...]) -> ssl.SSLContext | None:
    """The system's trust store (or `SSL_CERT_FILE`), made once, when any upstream is https."""
    if any(URL(upstream.url).scheme == "https" for upstream in upstreams):
        return ssl.create_default_context()
    return None


def _pool(
    client: UpstreamClient, upstream: UpstreamSettings, tls: ssl.SSLContext | None
) -> UpstreamPool:
    url = URL(upstream.url)
    if url.raw_host is None or url.port is None:
        raise ValueError(f"upstream {upstream.name} has no host")  # config has checked this
    return client.pool(
        url.raw_host,
        url.port,
        url.host_port_subcomponent or url.raw_host,
        connect_timeout=upstream.connect_timeout_seconds,
        read_timeout=upstream.read_timeout_seconds,
        tls=tls if url.scheme == "https" else None,
    )
