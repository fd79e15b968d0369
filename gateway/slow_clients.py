"""Slow clients: a request head must arrive within a bounded time, or the connection gets the
contract's 408 JSON and is closed (a trickling body is bounded in `forward/proxy.py`).

aiohttp's server has no such bound: a client sending one header byte a second holds its
connection for as long as it likes. `GatewayServer` (the plumbing's `JsonErrorServer`, an
aiohttp `web.Server` whose public `__call__` makes each connection's handler) gives every
connection a head clock: started when the connection opens and when the first bytes of a next
request come, stopped when the request reaches the gateway's handler (`request_context.py`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import structlog
from aiohttp import web

from service_plumbing.http_server import JsonErrorRequestHandler, JsonErrorServer

log = structlog.get_logger("gateway")


class HeadTimedRequestHandler(JsonErrorRequestHandler):
    """One connection: notes when a request head began, so its server can time it out."""

    def __init__(self, manager: GatewayServer, **kwargs: Any) -> None:
        super().__init__(manager, service="gateway", **kwargs)
        self._server = manager
        self._clock = manager.handler_loop.time
        self.head_since: float | None = None  # a head is on its way since then
        self.in_request = False  # set by the request context while the gateway answers

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.head_since = self._clock()
        self._server.watch(self)

    def data_received(self, data: bytes) -> None:
        if self.head_since is None and not self.in_request:
            self.head_since = self._clock()
        super().data_received(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._server.unwatch(self)
        super().connection_lost(exc)

    def too_slow(self) -> None:
        """The head did not arrive in time: the contract's 408, then close."""
        transport = self.transport
        self.head_since = None
        if self.in_request or transport is None or transport.is_closing():
            return
        if transport.get_write_buffer_size():  # the last answer is still being sent
            self.head_since = self._clock()
            return
        request_id = os.urandom(16).hex()
        peer = transport.get_extra_info("peername")
        log.info("request", status=408, reason="head_timeout", request_id=request_id, peer=peer)
        transport.write(_timeout_answer(request_id))
        transport.close()


class GatewayServer(JsonErrorServer):
    """The plumbing's server whose connections also bound the time a request head may take:
    one sweep every so often over the open connections, not a timer per request."""

    def __init__(
        self,
        handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]],
        *,
        head_timeout: float,
        **handler_options: Any,
    ) -> None:
        super().__init__(handler, service="gateway", **handler_options)
        self.head_timeout = head_timeout
        self._every = min(1.0, head_timeout / 4)
        self._watched: set[HeadTimedRequestHandler] = set()
        self._sweeper: asyncio.TimerHandle | None = None

    def __call__(self) -> web.RequestHandler:
        return HeadTimedRequestHandler(self, loop=self.handler_loop, **self.handler_options)

    def watch(self, connection: HeadTimedRequestHandler) -> None:
        self._watched.add(connection)
        if self._sweeper is None:
            self._sweeper = self.handler_loop.call_later(self._every, self._sweep)

    def unwatch(self, connection: HeadTimedRequestHandler) -> None:
        self._watched.discard(connection)

    def _sweep(self) -> None:
        self._sweeper = None
        deadline = self.handler_loop.time() - self.head_timeout
        for connection in list(self._watched):
            since = connection.head_since
            if since is not None and since <= deadline:
                connection.too_slow()
        if self._watched:
            self._sweeper = self.handler_loop.call_later(self._every, self._sweep)


def _timeout_answer(request_id: str) -> bytes:
    body = orjson.dumps(
        {
            "error": "request_timeout",
            "message": "the request head took too long",
            "request_id": request_id,
        }
    )
    head = (
        "HTTP/1.1 408 Request Timeout\r\n"
        "Content-Type: application/json\r\n"
        "Server: gateway\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Request-ID: {request_id}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body
