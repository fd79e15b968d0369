"""A small keep-alive HTTP/1.1 client for requests without a body (the gateway's hot path).

aiohttp's `ClientSession` costs more CPU per request than the rest of the gateway together;
this client writes the request head itself and parses the answer with httptools (llhttp,
strict). Only plain-http upstreams and body-less GET/DELETE/OPTIONS use it: HEAD (llhttp
cannot be told to skip a body) and anything with a body stay on the `ClientSession`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable

from multidict import CIMultiDict

from gateway.upstream_connection import (
    UpstreamClosed,
    UpstreamConnection,
    UpstreamProtocolError,
)

__all__ = [
    "UpstreamClient",
    "UpstreamClosed",
    "UpstreamPool",
    "UpstreamProtocolError",
    "UpstreamResponse",
]


class UpstreamResponse:
    """An answer whose head has arrived; the body is read with `read()` or `iter_chunks()`.
    Always `release()` it: the connection goes back to the pool only if the answer ended
    cleanly and the upstream allows keep-alive."""

    def __init__(self, pool: UpstreamPool, connection: UpstreamConnection) -> None:
        self._pool = pool
        self._connection = connection
        self._released = False
        self.status = connection.status
        self.reason = connection.reason.decode("utf-8", "surrogateescape")
        self.headers: CIMultiDict[str] = CIMultiDict(
            [
                (name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape"))
                for name, value in connection.raw_headers
            ]
        )
        length = self.headers.get("Content-Length")
        # llhttp has checked it is one plain decimal number.
        self.content_length = None if length is None else int(length)

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
        """Give the connection back (once: a second call does nothing, so one connection can
        never be pooled, or handed to a waiting request, twice)."""
        if not self._released:
            self._released = True
            self._pool.release(self._connection)


# A request waiting for a connection of `pool`: given a slot (None) or a connection.
_Waiter = tuple["UpstreamPool", asyncio.Future["UpstreamConnection | None"]]


class _Limiter:
    """Open connections across every pool of one client, at most `limit`. A request that finds
    none free waits in line; it is then given a slot to connect with or, when a connection of
    its own pool comes back reusable, that connection: kept alive, not closed and reopened."""

    def __init__(self, limit: int, evict_idle: Callable[[], object]) -> None:
        self.limit = limit
        self.open = 0
        self.waiters: collections.deque[_Waiter] = collections.deque()
        self._evict_idle = evict_idle

    async def acquire(self, pool: UpstreamPool) -> UpstreamConnection | None:
        """None: a slot is ours, to connect with. Else an open connection of `pool`."""
        if self.open < self.limit and not self.waiters:
            self.open += 1
            return None
        # The slots may all be idle connections to other upstreams: close one for us.
        self._evict_idle()
        waiter: asyncio.Future[UpstreamConnection | None] = (
            asyncio.get_running_loop().create_future()
        )
        entry = (pool, waiter)
        self.waiters.append(entry)
        try:
            return await waiter  # given by release() or hand_over()
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                given = waiter.result()  # it came just as we gave up: pass it on
                if given is None:
                    self.release()
                else:
                    pool.release(given)
            else:
                # Popped already if release() or hand_over() ran between the cancel and now.
                with contextlib.suppress(ValueError):
                    self.waiters.remove(entry)
            raise

    def hand_over(self, pool: UpstreamPool, connection: UpstreamConnection) -> bool:
        """Give a reusable connection to the first in line, if it waits on the same pool."""
        while self.waiters:
            waiting_pool, waiter = self.waiters[0]
            if waiter.done():
                self.waiters.popleft()
            elif waiting_pool is not pool:
                return False
            else:
                self.waiters.popleft()
                waiter.set_result(connection)
                return True
        return False

    def release(self) -> None:
        while self.waiters:
            _, waiter = self.waiters.popleft()
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
        self._idle: collections.deque[UpstreamConnection] = collections.deque()
        self._sweeper: asyncio.TimerHandle | None = None
        self._open: set[UpstreamConnection] = set()
        self._closed = False

    async def request(
        self, method: str, target: str, headers: Iterable[tuple[str, str]]
    ) -> UpstreamResponse:
        """Send a body-less request; return once the answer's head has arrived.

        ValueError for a header that cannot be written safely; TimeoutError when the
        upstream is too slow; OSError (UpstreamProtocolError included) when it fails.
        """
        head = _request_head(method, target, self._authority, headers)
        connection = self._take_idle() or await self._connect()
        try:
            connection.start(head)
            while not connection.headers_done:  # inline, not a helper: the hot path
                await connection.wait(self.read_timeout)
        except UpstreamClosed:
            connection.close()
            if connection.received or method not in _IDEMPOTENT:
                raise
            # Closed before a byte came back (typically a kept-alive connection the upstream
            # dropped while idle): once more on another, as aiohttp does (RFC 9112 9.3.1).
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

    async def _exchange(self, connection: UpstreamConnection, head: bytes) -> None:
        connection.start(head)
        while not connection.headers_done:
            await connection.wait(self.read_timeout)

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
                    lambda: UpstreamConnection(self._lost), self._host, self._port
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
