"""Slow clients: a request head must arrive within a bounded time, or the connection gets the
contract's 408 JSON and is closed (a trickling body is bounded in `forward/proxy.py`).

aiohttp's server has no such bound: a client sending one header byte a second holds its
connection for as long as it likes. `GatewayServer` (the plumbing's `JsonErrorServer`, an
aiohttp `web.Server` whose public `__call__` makes each connection's handler) gives every
connection a head timer: armed when the connection opens and when the first bytes of a next
request come, disarmed when the request reaches the gateway's handler.
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
    def __init__(self, manager: web.Server, *, head_timeout: float, **kwargs: Any) -> None:
        super().__init__(manager, service="gateway", **kwargs)
        self._head_timeout = head_timeout
        self._head_timer: asyncio.TimerHandle | None = None
        self._in_request = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._head_timer is None and not self._in_request:
            self._arm()
        super().data_received(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def head_arrived(self) -> None:
        self._in_request = True
        self._disarm()

    def answered(self) -> None:
        self._in_request = False

    def _arm(self) -> None:
        loop = asyncio.get_running_loop()
        self._head_timer = loop.call_later(self._head_timeout, self._expired)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _expired(self) -> None:
        self._head_timer = None
        transport = self.transport
        if self._in_request or transport is None or transport.is_closing():
            return
        if transport.get_write_buffer_size():  # the last answer is still being sent
            self._arm()
            return
        request_id = os.urandom(16).hex()
        peer = transport.get_extra_info("peername")
        log.info("request", status=408, reason="head_timeout", request_id=request_id, peer=peer)
        transport.write(_timeout_answer(request_id))
        transport.close()


class GatewayServer(JsonErrorServer):
    """The plumbing's server whose connections also bound the time a request head may take."""

    def __init__(
        self,
        handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]],
        *,
        head_timeout: float,
        **handler_options: Any,
    ) -> None:
        super().__init__(handler, service="gateway", **handler_options)
        self.head_timeout = head_timeout

    def __call__(self) -> web.RequestHandler:
        return HeadTimedRequestHandler(
            self, head_timeout=self.head_timeout, loop=self.handler_loop, **self.handler_options
        )


def head_arrived(request: web.BaseRequest) -> None:
    protocol = request.protocol
    if isinstance(protocol, HeadTimedRequestHandler):
        protocol.head_arrived()


def answered(request: web.BaseRequest) -> None:
    protocol = request.protocol
    if isinstance(protocol, HeadTimedRequestHandler):
        protocol.answered()


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
