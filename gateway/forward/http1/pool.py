"""The gateway's keep-alive HTTP/1.1 client: every forwarded request, any method, with or
without a body, to plain-http and https upstreams alike (TLS is asyncio's, the HTTP is ours).

aiohttp's `ClientSession` costs more CPU per request than the rest of the gateway together,
and hands bytes an upstream sent unasked to the next request on a pooled connection; this
client writes the request itself, parses the answer with httptools (llhttp, strict) and
discards any connection that sends a byte nobody asked for.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass

from gateway.forward.http1.answer import UpstreamResponse
from gateway.forward.http1.connection import (
    UpstreamClosed,
    UpstreamConnection,
    UpstreamProtocolError,
)
from gateway.forward.http1.limiter import Limiter, PoolExhausted

__all__ = [
    "PoolExhausted",
    "StreamedBody",
    "UpstreamClient",
    "UpstreamClosed",
    "UpstreamPool",
    "UpstreamProtocolError",
    "UpstreamResponse",
]

Headers = Iterable[tuple[str, str]]
# Headers made when the request is written (the signed identity: fresh however long the wait).
LateHeaders = Callable[[], Headers]


@dataclass(frozen=True, slots=True)
class StreamedBody:
    """A request body sent as it arrives: `length` bytes, or chunked when None."""

    chunks: AsyncIterator[bytes]
    length: int | None


# Methods whose requests anticipate a body (RFC 9110 8.6): sent `Content-Length: 0` without one.
_BODY_EXPECTED = frozenset({"POST", "PUT", "PATCH"})


class UpstreamPool:
    """Keep-alive connections to one upstream `host:port`."""

    def __init__(
        self,
        limiter: Limiter,
        host: str,
        port: int,
        authority: str,
        *,
        connect_timeout: float,
        read_timeout: float,
        idle_timeout: float,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._limiter = limiter
        self._tls = tls
        self._host = host
        self._port = port
        self._authority = authority
        self._connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._idle_timeout = idle_timeout
        self._idle: collections.deque[UpstreamConnection] = collections.deque()
        self._sweeper: asyncio.TimerHandle | None = None
        self._open: set[UpstreamConnection] = set()
        self._closed = False

    async def request(
        self,
        method: str,
        target: str,
        headers: Headers,
        *,
        body: bytes | StreamedBody | None = None,
        late_headers: LateHeaders | None = None,
    ) -> UpstreamResponse:
        """Send a request; return once the answer's head has arrived. `late_headers` are
        made once a connection is ours, just before the request is written.

        ValueError for a header that cannot be written safely; TimeoutError when the
        upstream is too slow; PoolExhausted when no connection came free in time; OSError
        (UpstreamProtocolError included) when the upstream fails. Whatever the body's
        iterator raises passes through (the connection is then closed).
        """
        head = _request_head(method, target, self._authority, headers, _framing(method, body))
        connection = self._take_idle() or await self._connect()
        try:
            if late_headers is not None:
                head += _header_lines(late_headers())
            data = (head + "\r\n").encode("utf-8", "surrogateescape")
            if body is None:  # inline, not `_exchange`: the hot path
                connection.start(data, method == "HEAD")
                while not connection.headers_done:
                    await connection.wait(self.read_timeout)
            else:
                await self._exchange(connection, method, data, body)
        except UpstreamClosed:
            connection.close()
            if connection.received or body is not None or method not in _IDEMPOTENT:
                raise
            # Closed before a byte came back (typically a kept-alive connection the upstream
            # dropped while idle): a body-less idempotent request once more on another, as
            # aiohttp does (RFC 9112 9.3.1). Never one with a body, as aiohttp never did.
            connection = await self._connect()
            try:
                await self._exchange(connection, method, data, None)
            except BaseException:
                connection.close()
                raise
        except BaseException:
            connection.close()
            raise
        return UpstreamResponse(self, connection)

    async def _exchange(
        self,
        connection: UpstreamConnection,
        method: str,
        head: bytes,
        body: bytes | StreamedBody | None,
    ) -> None:
        if isinstance(body, bytes):
            connection.start(head + body, method == "HEAD")
        else:
            connection.start(head, method == "HEAD")
            if body is not None:
                await self._stream(connection, body)
        while not connection.headers_done:
            await connection.wait(self.read_timeout)

    async def _stream(self, connection: UpstreamConnection, body: StreamedBody) -> None:
        chunked = body.length is None
        sent = False
        try:
            async for chunk in body.chunks:
                if connection.headers_done:
                    return  # answered before the whole body: finished without it
                if chunk:
                    framed = b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk
                    await connection.send(framed, self.read_timeout)
            if chunked and not connection.headers_done:
                await connection.send(b"0\r\n\r\n", self.read_timeout)
            sent = True
        finally:
            if not sent:
                connection.spoil()  # the upstream still waits for the rest of the body

    def _take_idle(self) -> UpstreamConnection | None:
        while self._idle:
            connection = self._idle.pop()
            transport = connection.transport
            if transport is not None and not transport.is_closing():
                return connection
        return None

    async def _connect(self) -> UpstreamConnection:
        while (given := await self._limiter.acquire(self)) is not None:
            transport = given.transport
            if transport is not None and not transport.is_closing():
                return given
            # Closed since it was handed over: its slot went with it, wait again.
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, connection = await loop.create_connection(
                    lambda: UpstreamConnection(self._lost), self._host, self._port, ssl=self._tls
                )
        except BaseException:
            self._limiter.release()
            raise
        self._open.add(connection)
        return connection

    def _lost(self, connection: UpstreamConnection) -> None:
        if connection in self._open:
            self._open.discard(connection)
            self._limiter.release()

    def release(self, connection: UpstreamConnection) -> None:
        transport = connection.transport
        reusable = (
            connection.complete
            and connection.keep_alive
            and connection.error is None
            and transport is not None
            and not transport.is_closing()
            and not self._closed
        )
        if not reusable:
            connection.close()
            return
        connection.busy = False
        limiter = self._limiter
        if limiter.waiters:
            if limiter.hand_over(self, connection):
                return
            if limiter.waiters:  # the first in line waits on another upstream: our slot, now
                self._open.discard(connection)
                connection.close()
                limiter.release()
                return
        loop = connection.loop
        connection.idle_since = loop.time()
        self._idle.append(connection)
        if self._sweeper is None:
            self._sweeper = loop.call_at(connection.idle_since + self._idle_timeout, self._sweep)

    def _sweep(self) -> None:
        """Close connections idle for longer than the timeout (oldest first: the left end;
        one timer per pool rather than one per release)."""
        self._sweeper = None
        loop = asyncio.get_running_loop()
        deadline = loop.time() - self._idle_timeout
        while self._idle and self._idle[0].idle_since <= deadline:
            self._idle.popleft().close()
        if self._idle:
            self._sweeper = loop.call_at(self._idle[0].idle_since + self._idle_timeout, self._sweep)

    def evict_idle(self) -> bool:
        """Close this pool's oldest idle connection, if it has one."""
        while self._idle:
            connection = self._idle.popleft()
            transport = connection.transport
            if transport is not None and not transport.is_closing():
                connection.close()
                return True
        return False

    def close(self) -> None:
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        for connection in list(self._open):
            connection.close()
        self._idle.clear()


class UpstreamClient:
    """The process's fast-path pools, one per upstream, sharing one connection limit."""

    def __init__(
        self, max_connections: int, idle_timeout: float, *, wait_timeout: float = 10.0
    ) -> None:
        self._limiter = Limiter(max_connections, self._evict_idle, wait_timeout)
        self._idle_timeout = idle_timeout
        self._pools: list[UpstreamPool] = []

    def pool(
        self,
        host: str,
        port: int,
        authority: str,
        *,
        connect_timeout: float,
        read_timeout: float,
        tls: ssl.SSLContext | None = None,
    ) -> UpstreamPool:
        """`tls`: connect with TLS (an https upstream), checking the certificate for `host`."""
        pool = UpstreamPool(
            self._limiter,
            host,
            port,
            authority,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            idle_timeout=self._idle_timeout,
            tls=tls,
        )
        self._pools.append(pool)
        return pool

    def _evict_idle(self) -> None:
        for pool in self._pools:
            if pool.evict_idle():
                return

    def close(self) -> None:
        for pool in self._pools:
            pool.close()


_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "PUT", "TRACE"})


def _framing(method: str, body: bytes | StreamedBody | None) -> str:
    """The body's framing header, written by this client (never copied from the client)."""
    if body is None:
        return "Content-Length: 0\r\n" if method in _BODY_EXPECTED else ""
    if isinstance(body, bytes):
        return f"Content-Length: {len(body)}\r\n"
    if body.length is None:
        return "Transfer-Encoding: chunked\r\n"
    return f"Content-Length: {body.length}\r\n"


def _request_head(method: str, target: str, authority: str, headers: Headers, framing: str) -> str:
    """The request line and headers, without the blank line that ends the head."""
    lines = [f"{method} {target} HTTP/1.1\r\nHost: {authority}\r\n{framing}"]
    lines += [f"{name}: {value}\r\n" for name, value in headers]
    head = "".join(lines)
    # Only the line ends written here may hold CR or LF: one count beats a scan per header.
    breaks = len(lines) + (2 if framing else 1)
    if (
        " " in method
        or " " in target
        or head.count("\n") != breaks
        or head.count("\r") != breaks
        or "\x00" in head
    ):
        raise ValueError("request head not safe to write")
    return head


def _header_lines(headers: Headers) -> str:
    lines = [f"{name}: {value}\r\n" for name, value in headers]
    text = "".join(lines)
    if text.count("\n") != len(lines) or text.count("\r") != len(lines) or "\x00" in text:
        raise ValueError("header not safe to write")
    return text
