"""aiohttp's HTTP server with the contract's manners: parser limits set deliberately, requests
the parser refuses answered with the JSON error body, and no `Server` banner naming Python or
aiohttp.

aiohttp answers a request it cannot parse (bad method, NUL in the target, obs-fold, both
Content-Length and Transfer-Encoding, a line over the limit, ...) from
`RequestHandler.handle_error`, before any middleware runs, with a text/plain body that quotes
the offending bytes. `JsonErrorServer` makes its connections' handlers answer with JSON instead.
Both services serve it through aiohttp's public `web.ServerRunner`; an application with a
router (the backend's) gets its request handling from `app_started`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import hdrs, web
from aiohttp.http_exceptions import (
    BadHttpMethod,
    BadStatusLine,
    HttpProcessingError,
    InvalidHeader,
    InvalidURLError,
    LineTooLong,
    PayloadEncodingError,
)

from service_plumbing.errors import error_response
from service_plumbing.request_context import REQUEST_ID_HEADER, RequestIds

# What a refusal says, by the parser's exception: never its message, which quotes the bytes.
_REFUSALS: tuple[tuple[type[Exception], str], ...] = (
    (LineTooLong, "a request line or header is too long"),
    (BadHttpMethod, "the request method is malformed"),
    (BadStatusLine, "the request line is malformed"),
    (InvalidURLError, "the request target is malformed"),
    (InvalidHeader, "a request header is malformed"),
    (PayloadEncodingError, "the request body's framing is malformed"),
)


@dataclass(frozen=True, slots=True)
class ParserLimits:
    """aiohttp's request parser limits (its defaults, 8190 bytes, would refuse a long token)."""

    max_request_line_bytes: int = 16384
    max_header_bytes: int = 65536
    max_headers: int = 128

    def server_options(self) -> dict[str, int]:
        """Keyword arguments for `web.Server` / a runner."""
        return {
            "max_line_size": self.max_request_line_bytes,
            "max_field_size": self.max_header_bytes,
            "max_headers": self.max_headers,
        }


class JsonErrorRequestHandler(web.RequestHandler):
    """One connection's handler: errors aiohttp answers itself become the contract's JSON."""

    def __init__(self, manager: web.Server, *, service: str, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self.service = service
        self.error_log = structlog.get_logger(service)
        self.request_ids = RequestIds()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:  # as aiohttp: too late for another answer
            raise ConnectionError("the response has started; no error answer can follow")
        request_id = self.request_ids.for_request(None)
        fields = {"request_id": request_id, "status": status, "peer": str(request.remote)}
        if isinstance(exc, HttpProcessingError):
            self.error_log.info(
                "request", reason="malformed_request", error_type=type(exc).__name__, **fields
            )
        else:
            self.error_log.error("unhandled_error", error_type=type(exc).__name__, **fields)
        headers = {REQUEST_ID_HEADER: request_id, hdrs.SERVER: self.service}
        response = error_response(
            status, _refusal_message(status, exc), request_id=request_id, headers=headers
        )
        response.force_close()
        return response


def _refusal_message(status: int, exc: BaseException | None) -> str:
    if status >= 500 or not isinstance(exc, HttpProcessingError):
        return "internal error" if status == 500 else "the request could not be answered"
    for kind, text in _REFUSALS:
        if isinstance(exc, kind):
            return text
    return "the request is malformed"


class JsonErrorServer(web.Server):
    """`web.Server` whose connections are `JsonErrorRequestHandler`s; `service` names the
    `Server` header and the log lines."""

    def __init__(
        self,
        handler: Any,
        *,
        service: str,
        request_factory: Any = None,
        handler_cancellation: bool = False,
        loop: asyncio.AbstractEventLoop | None = None,
        **handler_options: Any,
    ) -> None:
        super().__init__(
            handler,
            request_factory=request_factory,
            handler_cancellation=handler_cancellation,
            loop=loop,
            **handler_options,
        )
        self.service = service
        self.handler_loop = loop or asyncio.get_running_loop()
        self.handler_options = handler_options

    def __call__(self) -> web.RequestHandler:
        return JsonErrorRequestHandler(
            self, service=self.service, loop=self.handler_loop, **self.handler_options
        )


@contextlib.asynccontextmanager
async def app_started(app: web.Application) -> AsyncIterator[web.Server]:
    """The app's startup, shutdown and cleanup signals around serving it, run by aiohttp's public
    `web.AppRunner`. Yields that runner's `web.Server`, whose public `request_handler` and
    `request_factory` are the app's own request handling (router, middlewares). The runner
    never listens: the caller serves through a `web.ServerRunner` of its own."""
    runner = web.AppRunner(app)
    try:
        await runner.setup()
        if runner.server is None:  # pragma: no cover - setup() always makes one
            raise RuntimeError("aiohttp's AppRunner made no server")
        yield runner.server
    finally:
        await runner.cleanup()  # after a failed startup: the cleanup contexts already entered


def app_server_runner(
    app_server: web.Server, *, service: str, shutdown_timeout: float, **handler_options: Any
) -> web.ServerRunner:
    """A public `web.ServerRunner` answering through the app's request handling (from
    `app_started`) with `JsonErrorServer`'s connections."""
    server = JsonErrorServer(
        app_server.request_handler,
        service=service,
        request_factory=app_server.request_factory,
        handler_cancellation=app_server.handler_cancellation,
        **handler_options,
    )
    return web.ServerRunner(server, shutdown_timeout=shutdown_timeout)
