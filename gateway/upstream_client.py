"""A small keep-alive HTTP/1.1 client for requests without a body (the gateway's hot path).

aiohttp's `ClientSession` costs more CPU per request than the rest of the gateway together;
this client writes the request head itself and parses the answer with httptools (llhttp,
strict). Only plain-http upstreams and body-less GET/DELETE/OPTIONS use it: HEAD (llhttp
cannot be told to skip a body) and anything with a body stay on the `ClientSession`.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Callable, Iterable

import httptools
from multidict import CIMultiDict

# Pause reading from the upstream while this many body bytes wait for the client.
_HIGH_WATER = 256 * 1024
# llhttp sets no limit on an answer's head; aiohttp's client refuses long ones too.
_MAX_HEAD = 64 * 1024


class UpstreamProtocolError(ConnectionError):
    """The upstream broke HTTP/1.1 framing, or the connection ended mid-answer."""


class UpstreamClosed(UpstreamProtocolError):
    """The upstream closed (or reset) the connection before its answer was complete."""


class _Connection(asyncio.Protocol):
    """One upstream connection; the parser's callbacks fill in the current answer."""

    def __init__(self, on_lost: Callable[[_Connection], None]) -> None:
        self._on_lost = on_lost
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[None] | None = None
        self.busy = False
        self.idle_since = 0.0
        self._reset()

    def _reset(self) -> None:
        self.received = 0  # bytes of this answer so far
        self.status = 0
        self.reason = b""
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self._head_size = 0
        self.headers_done = False
        self.complete = False
        self.keep_alive = False
        self.error: Exception | None = None
        self.chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._interim = False
        self._close_delimited = False

    def start(self, head: bytes) -> None:
        self._reset()
        self.busy = True
        if self.transport is not None:
            self.transport.write(head)

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self.busy or self.complete:
            self._fail(UpstreamProtocolError("unsolicited bytes from the upstream"))
            return
        self.received += len(data)
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            self._fail(UpstreamProtocolError("malformed answer from the upstream"))
            return
        if not self.headers_done and self.received > _MAX_HEAD:
            self._fail(UpstreamProtocolError("the upstream's answer head is too large"))

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if self.busy and not self.complete and self.error is None:
            if self.headers_done and self._close_delimited:
                self.complete = True  # the body ran until the upstream closed
            else:
                self.error = UpstreamClosed("the upstream closed the connection")
        self.keep_alive = False
        self._on_lost(self)
        self._wake()

    # httptools callbacks
    def on_message_begin(self) -> None:
        if self.complete:
            raise UpstreamProtocolError("a second answer to one request")
        self.reason = b""
        self.raw_headers = []
        self._head_size = 0

    def on_status(self, status: bytes) -> None:
        self.reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value)
        if self._head_size > _MAX_HEAD:
            raise UpstreamProtocolError("the upstream's answer head is too large")
        self.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status == 101:
            raise UpstreamProtocolError("unexpected protocol switch")
        if status < 200:
            self._interim = True  # 100 Continue, 103 Early Hints: wait for the real answer
            return
        self.status = status
        self.headers_done = True
        self._close_delimited = status not in (204, 304) and _close_delimited(self.raw_headers)
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self._buffered += len(body)
        if self._buffered > _HIGH_WATER and self.transport is not None:
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        self.complete = True
        self.keep_alive = self._parser.should_keep_alive()
        self._wake()

    # consumer side
    def take(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        if self._buffered > _HIGH_WATER and self.transport is not None:
            self.transport.resume_reading()
        self._buffered = 0
        return data

    async def wait(self, seconds: float) -> None:
        """Until the parser reports progress (or the connection ends); TimeoutError after
        `seconds` of silence, like aiohttp's sock_read. Bytes after a complete answer only
        spoil the connection for reuse, not the answer."""
        if self.error is not None and not self.complete:
            raise self.error
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(seconds, _expire, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None
        if self.error is not None and not self.complete:
            raise self.error

    def _fail(self, error: Exception) -> None:
        if self.error is None:
            self.error = error
        self.keep_alive = False
        if self.transport is not None:
            self.transport.close()
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


def _close_delimited(headers: list[tuple[bytes, bytes]]) -> bool:
    chunked = False
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"content-length":
            return False
        if lowered == b"transfer-encoding":
            chunked = value.rsplit(b",", 1)[-1].strip().lower() == b"chunked"
    return not chunked


class UpstreamResponse:
    """An answer whose head has arrived; the body is read with `read()` or `iter_chunks()`.
    Always `release()` it: the connection goes back to the pool only if the answer ended
    cleanly and the upstream allows keep-alive."""

    def __init__(self, pool: UpstreamPool, connection: _Connection) -> None:
        self._pool = pool
        self._connection = connection
        self.status = connection.status
        self.reason = connection.reason.decode("utf-8", "surrogateescape")
        self.headers: CIMultiDict[str] = CIMultiDict(
            (name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape"))
            for name, value in connection.raw_headers
        )

    async def read(self) -> bytes:
        connection = self._connection
        parts = []
        while not connection.complete:
            parts.append(connection.take())
            await connection.wait(self._pool.read_timeout)
        parts.append(connection.take())
        return b"".join(parts)

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        connection = self._connection
        while True:
            if connection.chunks:
                yield connection.take()
            elif connection.complete:
                return
            else:
                await connection.wait(self._pool.read_timeout)

    def release(self) -> None:
        self._pool.release(self._connection)


class _Limiter:
    """Open connections across every pool of one client, at most `limit`."""

    def __init__(self, limit: int, evict_idle: Callable[[], object]) -> None:
        self.limit = limit
        self.open = 0
        self.waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._evict_idle = evict_idle

    async def acquire(self) -> None:
        if self.open < self.limit and not self.waiters:
            self.open += 1
            return
        # The slots may all be idle connections to other upstreams: close one for us.
        self._evict_idle()
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            await waiter  # the slot is handed over by release()
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot came just as we gave up: pass it on
            else:
                self.waiters.remove(waiter)
            raise

    def release(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.open -= 1


class UpstreamPool:
    """Keep-alive connections to one upstream `host:port`."""

    def __init__(
        self,
        limiter: _Limiter,
        host: str,
        port: int,
        authority: str,
        *,
        connect_timeout: float,
        read_timeout: float,
        idle_timeout: float,
    ) -> None:
        self._limiter = limiter
        self._host = host
        self._port = port
        self._authority = authority
        self._connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._idle_timeout = idle_timeout
        self._idle: collections.deque[_Connection] = collections.deque()
        self._sweeper: asyncio.TimerHandle | None = None
        self._open: set[_Connection] = set()
        self._closed = False

    async def request(
        self, method: str, target: str, headers: Iterable[tuple[str, str]]
    ) -> UpstreamResponse:
        """Send a body-less request; return once the answer's head has arrived.

        ValueError for a header that cannot be written safely; TimeoutError when the
        upstream is too slow; OSError (UpstreamProtocolError included) when it fails.
        """
        head = _request_head(method, target, self._authority, headers)
        connection = await self._acquire()
        try:
            await self._exchange(connection, head)
        except UpstreamClosed:
            connection.close()
            if connection.received or method not in _IDEMPOTENT:
                raise
            # Closed before a byte came back (typically a kept-alive connection the upstream
            # dropped while idle): once more on a fresh one, as aiohttp does (RFC 9112 9.3.1).
            connection = await self._connect()
            try:
                await self._exchange(connection, head)
            except BaseException:
                connection.close()
                raise
        except BaseException:
            connection.close()
            raise
        return UpstreamResponse(self, connection)

    async def _exchange(self, connection: _Connection, head: bytes) -> None:
        connection.start(head)
        while not connection.headers_done:
            await connection.wait(self.read_timeout)

    async def _acquire(self) -> _Connection:
        while self._idle:
            connection = self._idle.pop()
            transport = connection.transport
            if transport is not None and not transport.is_closing():
                return connection
        return await self._connect()

    async def _connect(self) -> _Connection:
        await self._limiter.acquire()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, connection = await loop.create_connection(
                    lambda: _Connection(self._lost), self._host, self._port
                )
        except BaseException:
            self._limiter.release()
            raise
        self._open.add(connection)
        return connection

    def _lost(self, connection: _Connection) -> None:
        if connection in self._open:
            self._open.discard(connection)
            self._limiter.release()

    def release(self, connection: _Connection) -> None:
        transport = connection.transport
        reusable = (
            connection.complete
            and connection.keep_alive
            and connection.error is None
            and transport is not None
            and not transport.is_closing()
            and not self._closed
            and not self._limiter.waiters  # someone waits for a slot: free this one
        )
        if not reusable:
            connection.close()
            return
        connection.busy = False
        loop = asyncio.get_running_loop()
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

    def __init__(self, max_connections: int, idle_timeout: float) -> None:
        self._limiter = _Limiter(max_connections, self._evict_idle)
        self._idle_timeout = idle_timeout
        self._pools: list[UpstreamPool] = []

    def pool(
        self, host: str, port: int, authority: str, *, connect_timeout: float, read_timeout: float
    ) -> UpstreamPool:
        pool = UpstreamPool(
            self._limiter,
            host,
            port,
            authority,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            idle_timeout=self._idle_timeout,
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


def _request_head(
    method: str, target: str, authority: str, headers: Iterable[tuple[str, str]]
) -> bytes:
    if " " in method or " " in target:
        raise ValueError("request line not safe to write")
    lines = [f"{method} {target} HTTP/1.1\r\nHost: {authority}\r\n"]
    lines += [f"{name}: {value}\r\n" for name, value in headers]
    lines.append("\r\n")
    head = "".join(lines)
    # Only the line ends written above may hold CR or LF: one count beats a scan per header.
    breaks = len(lines) + 1
    if head.count("\n") != breaks or head.count("\r") != breaks or "\x00" in head:
        raise ValueError("header not safe to write")
    return head.encode("utf-8", "surrogateescape")
