"""One upstream HTTP/1.1 connection (plain or TLS): writes a request, parses the answer with
httptools.

llhttp (through httptools) does the parsing, strictly; this module only keeps the state of the
answer in progress and wakes the one request waiting on it. `pool.py` pools these connections.
An answer to HEAD ends with its head (llhttp cannot be told the request was a HEAD, so the
connection is not reused: the parser would wait for the body its Content-Length announces).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from typing import Protocol

import httptools

# Pause reading from the upstream while this many body bytes wait for the client.
_HIGH_WATER = 256 * 1024
# llhttp sets no limit on an answer's head; aiohttp's client refuses long ones too.
_MAX_HEAD = 64 * 1024


class ConnectionOwner(Protocol):
    """What an answer and the connection limit need of the pool a connection belongs to."""

    read_timeout: float

    def release(self, connection: UpstreamConnection) -> None: ...


class UpstreamProtocolError(ConnectionError):
    """The upstream broke HTTP/1.1 framing, or the connection ended mid-answer."""


class UpstreamClosed(UpstreamProtocolError):
    """The upstream closed (or reset) the connection before its answer was complete."""


class UpstreamConnection(asyncio.Protocol):
    """One upstream connection; the parser's callbacks fill in the current answer."""

    def __init__(self, on_lost: Callable[[UpstreamConnection], None]) -> None:
        self._on_lost = on_lost
        # Kept: `asyncio.get_running_loop()` costs a getpid() system call on every use.
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[None] | None = None
        self.busy = False
        self.idle_since = 0.0
        self._writable = True
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
        self._head_only = False
        self._spoiled = False

    def start(self, head: bytes, head_only: bool) -> None:
        """Write a request head; `head_only`: the answer has no body (a HEAD request)."""
        if self._buffered > _HIGH_WATER and self.transport is not None:
            self.transport.resume_reading()  # the last answer was released unread
        self._reset()
        self._head_only = head_only
        self.busy = True
        if self.transport is not None:
            self.transport.write(head)

    async def send(self, data: bytes, seconds: float) -> None:
        """Write request body bytes; wait while the upstream does not take them (TimeoutError
        after `seconds` without progress). Returns early once an answer has begun."""
        transport = self.transport
        if transport is None or transport.is_closing():
            raise self.error or UpstreamClosed("the upstream closed the connection")
        transport.write(data)
        while not self._writable and not self.headers_done:
            await self.wait(seconds)

    def spoil(self) -> None:
        """Never reuse this connection (its request was not sent whole)."""
        self.keep_alive = False
        self._spoiled = True

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def pause_writing(self) -> None:
        self._writable = False

    def resume_writing(self) -> None:
        self._writable = True
        self._wake()

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
        if self._head_only:
            self.complete = True  # and never reused: see the module's docstring
        else:
            self._close_delimited = status not in (204, 304) and _close_delimited(self.raw_headers)
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self._head_only:
            raise UpstreamProtocolError("a body in the answer to HEAD")
        self.chunks.append(body)
        self._buffered += len(body)
        if self._buffered > _HIGH_WATER and self.transport is not None:
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        if self._head_only:
            return
        self.complete = True
        self.keep_alive = self._parser.should_keep_alive() and not self._spoiled
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
        loop = self.loop
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
