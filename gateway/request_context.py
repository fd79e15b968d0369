"""The gateway's request context: request id, errors as JSON, one access line, wrapped around
its one handler without aiohttp's middleware layers (the backend uses
`service_plumbing.request_context`)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import structlog
from aiohttp import web

from gateway.signature import REQUEST_ID_HEADER
from service_plumbing.drain import InFlight
from service_plumbing.errors import ApiError, error_response
from service_plumbing.handlers import RawHandler
from service_plumbing.logs import AccessLog
from service_plumbing.request_context import RequestIds


@dataclass(slots=True)
class Exchange:
    """One request's id, and the fields a handler adds to its access line (user_id, route,
    auth, upstream_ms, …)."""

    request_id: str
    fields: dict[str, Any]


# A handler that is handed the exchange directly (the gateway's), instead of reading it back.
ExchangeHandler = Callable[[web.BaseRequest, Exchange], Awaitable[web.StreamResponse]]

# Last touches to a response's headers before they are sent (the gateway's CORS).
BeforeSend = Callable[[web.BaseRequest, web.StreamResponse], None]

EXCHANGE = web.RequestKey("exchange", Exchange)

# aiohttp's own refusals (router, body size), in the contract's words.
_HTTP_EXCEPTION_MESSAGES = {
    404: "no such route",
    405: "method not allowed",
    413: "the request body is too large",
}


def with_request_context(
    handler: ExchangeHandler,
    *,
    service: str,
    before_send: BeforeSend | None = None,
    inflight: InFlight | None = None,
) -> RawHandler:
    """The middleware's work wrapped around one handler: for an app with a single handler,
    this saves aiohttp's middleware layers on every request. `before_send` sees every
    response this returns unsent (errors included), after X-Request-ID is set; `inflight`
    counts the handler's calls and closes connections while draining."""
    # A partial, not a closure: calling it makes the `_in_context` coroutine directly, one
    # coroutine frame fewer on every request.
    return partial(
        _in_context,
        handler=handler,
        access_log=AccessLog(structlog.get_logger(service)),
        request_ids=RequestIds(),
        before_send=before_send,
        inflight=inflight,
    )


async def _in_context(
    request: web.BaseRequest,
    *,
    handler: ExchangeHandler,
    access_log: AccessLog,
    request_ids: RequestIds,
    before_send: BeforeSend | None = None,
    inflight: InFlight | None = None,
) -> web.StreamResponse:
    started = time.perf_counter()
    request_id = request_ids.for_request(request.headers.get(REQUEST_ID_HEADER))
    fields: dict[str, Any] = {}
    exchange = request[EXCHANGE] = Exchange(request_id, fields)
    if inflight is not None:
        inflight.enter()
    try:
        response = await handler(request, exchange)
    except ApiError as error:
        response = error_response(
            error.status,
            error.message,
            request_id=request_id,
            code=error.code,
            headers=error.headers,
        )
        if error.reason is not None:
            fields.setdefault("reason", error.reason)
        if error.status == 408:
            response.force_close()  # the rest of a stalled body would never come
    except web.HTTPException as error:
        response = _from_http_exception(error, request_id)
    except Exception as error:
        # The type and the place, never the traceback or the message: either may hold data.
        access_log.error("unhandled_error", request_id=request_id, **_where(error))
        response = error_response(500, "internal error", request_id=request_id)
    finally:
        if inflight is not None:
            inflight.leave()
    if inflight is not None and inflight.draining:
        response.force_close()  # no keep-alive while shutting down
    if not response.prepared:
        response.headers[REQUEST_ID_HEADER] = request_id
        if before_send is not None:
            before_send(request, response)
    line = {
        "request_id": request_id,
        "method": request.method,
        "path": request.path,
        "status": response.status,
        "duration_ms": ms_since(started),
        **fields,
    }
    access_log.info("request", line)
    return response


def ms_since(started: float) -> float:
    """Milliseconds since a `time.perf_counter()` reading, to the microsecond (the same as
    `round(..., 3)` for these small positive values, at a third of its cost)."""
    return int((time.perf_counter() - started) * 1_000_000 + 0.5) / 1000


def _where(error: BaseException) -> dict[str, str]:
    frame = error.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    place = f"{frame.tb_frame.f_code.co_filename}:{frame.tb_lineno}" if frame else "unknown"
    return {"error_type": type(error).__name__, "where": place}


def _from_http_exception(error: web.HTTPException, request_id: str) -> web.Response:
    message = _HTTP_EXCEPTION_MESSAGES.get(error.status, error.reason)
    headers = {"Allow": error.headers["Allow"]} if "Allow" in error.headers else None
    return error_response(error.status, message, request_id=request_id, headers=headers)
