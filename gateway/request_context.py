"""The gateway's request context: request id, errors as JSON, one access line, wrapped around
its one handler without aiohttp's middleware layers (the backend uses
`service_plumbing.request_context`)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import structlog
from aiohttp import web

from gateway.signature import REQUEST_ID_HEADER
from gateway.slow_clients import HeadTimedRequestHandler
from service_plumbing.drain import InFlight
from service_plumbing.errors import (
    HTTP_VERSIONS,
    ApiError,
    error_location,
    error_response,
    from_http_exception,
    unsupported_http_version,
)
from service_plumbing.handlers import RawHandler
from service_plumbing.logs import AccessLog
from service_plumbing.request_context import RequestIds

# Last touches to a response's headers before they are sent (the gateway's CORS).
BeforeSend = Callable[[web.BaseRequest, web.StreamResponse], None]


@dataclass(slots=True)
class Exchange:
    """One request's state: its id, the fields its stages add to the access line (route,
    user_id, upstream, auth outcome, upstream_ms, …), and how its response is finished."""

    request_id: str
    fields: dict[str, Any]
    before_send: BeforeSend | None = None

    def finish_headers(self, request: web.BaseRequest, response: web.StreamResponse) -> None:
        """X-Request-ID, the CORS grant and the Server name, on every response just before it
        is sent: by the request context, or by the proxy for an answer it streams."""
        response.headers[REQUEST_ID_HEADER] = self.request_id
        if self.before_send is not None:
            self.before_send(request, response)


# A handler that is handed the exchange directly (the gateway's), instead of reading it back.
ExchangeHandler = Callable[[web.BaseRequest, Exchange], Awaitable[web.StreamResponse]]

# Completes a finished request's access line, and counts it (`gateway/app.py`).
LineObserver = Callable[[web.BaseRequest, web.StreamResponse, dict[str, Any]], None]


class RequestCounter(Protocol):
    """Counts requests in flight (a reloadable configuration's, `gateway/reload.py`)."""

    def enter(self) -> None: ...
    def leave(self) -> None: ...


EXCHANGE = web.RequestKey("exchange", Exchange)


def with_request_context(
    handler: ExchangeHandler,
    *,
    service: str,
    before_send: BeforeSend | None = None,
    inflight: InFlight | None = None,
    active: RequestCounter | None = None,
    observe: LineObserver | None = None,
) -> RawHandler:
    """The middleware's work wrapped around one handler: for an app with a single handler,
    this saves aiohttp's middleware layers on every request. `before_send` sees every
    response this returns unsent (errors included), after X-Request-ID is set; `inflight`
    counts the handler's calls and closes connections while draining; `active` counts them too
    (for the configuration this handler belongs to)."""
    # A partial, not a closure: calling it makes the `_in_context` coroutine directly, one
    # coroutine frame fewer on every request.
    return partial(
        _in_context,
        handler=handler,
        access_log=AccessLog(structlog.get_logger(service)),
        request_ids=RequestIds(),
        before_send=before_send,
        inflight=inflight,
        active=active,
        observe=observe,
    )


async def _in_context(
    request: web.BaseRequest,
    *,
    handler: ExchangeHandler,
    access_log: AccessLog,
    request_ids: RequestIds,
    before_send: BeforeSend | None = None,
    inflight: InFlight | None = None,
    active: RequestCounter | None = None,
    observe: LineObserver | None = None,
) -> web.StreamResponse:
    started = time.perf_counter()
    request_id = request_ids.for_request(request.headers.get(REQUEST_ID_HEADER))
    exchange = request[EXCHANGE] = Exchange(request_id, {}, before_send)
    if inflight is not None:
        inflight.enter()
    if active is not None:
        active.enter()
    protocol = request.protocol
    connection = protocol if isinstance(protocol, HeadTimedRequestHandler) else None
    if connection is not None:  # the head is here: its clock stops until the next request
        connection.in_request, connection.head_since = True, None
    try:
        if request.version not in HTTP_VERSIONS:
            raise unsupported_http_version()
        response = await handler(request, exchange)
    except Exception as error:
        response = _refusal(error, exchange, access_log)
    finally:
        if inflight is not None:
            inflight.leave()
        if active is not None:
            active.leave()
        if connection is not None:
            connection.in_request = False
    if inflight is not None and inflight.draining:
        response.force_close()  # no keep-alive while shutting down
    _finish(request, response, exchange, access_log, started, observe)
    return response


def _finish(
    request: web.BaseRequest,
    response: web.StreamResponse,
    exchange: Exchange,
    access_log: AccessLog,
    started: float,
    observe: LineObserver | None = None,
) -> None:
    """The one place every response, success or refusal, is finished: its headers (unless the
    proxy already sent them with `finish_headers`) and its access line."""
    if not response.prepared:
        exchange.finish_headers(request, response)
    line = {
        "request_id": exchange.request_id,
        "method": request.method,
        "path": request.path,
        "status": response.status,
        "duration_ms": ms_since(started),
        **exchange.fields,
    }
    if observe is not None:  # the operator fields and the metrics
        observe(request, response, line)
    access_log.info("request", line)


def _refusal(error: Exception, exchange: Exchange, access_log: AccessLog) -> web.Response:
    """The contract's JSON for whatever a handler raised."""
    request_id = exchange.request_id
    if isinstance(error, ApiError):
        response = error_response(
            error.status,
            error.message,
            request_id=request_id,
            code=error.code,
            headers=error.headers,
        )
        if error.reason is not None:
            exchange.fields.setdefault("reason", error.reason)
        if error.status == 408 or error.close_connection:
            response.force_close()  # e.g. the rest of a stalled body would never come
        return response
    if isinstance(error, web.HTTPException):
        return from_http_exception(error, request_id)
    # The type and the place, never the traceback or the message: either may hold data.
    access_log.error("unhandled_error", request_id=request_id, **error_location(error))
    return error_response(500, "internal error", request_id=request_id)


def ms_since(started: float) -> float:
    """Milliseconds since a `time.perf_counter()` reading, to the microsecond (the same as
    `round(..., 3)` for these small positive values, at a third of its cost)."""
    return int((time.perf_counter() - started) * 1_000_000 + 0.5) / 1000
