"""A plain aiohttp middleware: request id in and out, every failure as the contract's JSON,
one access line per request. (The gateway has its own, tuned for its single handler.)"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import hdrs, web

from service_plumbing.access_fields import AccessFields
from service_plumbing.errors import (
    HTTP_VERSIONS,
    ApiError,
    error_location,
    error_response,
    from_http_exception,
    unsupported_http_version,
)
from service_plumbing.handlers import Handler
from service_plumbing.logs import AccessLog

REQUEST_ID_HEADER = "X-Request-ID"
_WELL_FORMED_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


@dataclass(slots=True)
class Exchange:
    """One request's id, and the fields a handler adds to its access line (user_id, …)."""

    request_id: str
    fields: dict[str, Any]


EXCHANGE = web.RequestKey("exchange", Exchange)


class RequestIds:
    """New request ids, 32 hex digits like `uuid4().hex`, from the OS's random source: drawn
    256 at a time, one getrandom() system call per 256 requests instead of one per request.
    Unpredictable, so a client cannot guess the id another client's request will get."""

    __slots__ = ("_digits", "_next")

    _BATCH = 256

    def __init__(self) -> None:
        self._digits = ""
        self._next = 0

    def for_request(self, incoming: str | None) -> str:
        """The client's request id when it is well formed, else a new one."""
        if incoming is not None and _WELL_FORMED_REQUEST_ID.fullmatch(incoming):
            return incoming
        at = self._next
        if at >= len(self._digits):
            self._digits = os.urandom(16 * self._BATCH).hex()
            at = 0
        self._next = at + 32
        return self._digits[at : at + 32]


def request_context_middleware(*, service: str) -> Any:
    """Request id in and out, every failure as the contract's JSON, one access line."""
    access_log = AccessLog(structlog.get_logger(service))
    access_fields = AccessFields(service)
    request_ids = RequestIds()

    @web.middleware
    async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        request_id = request_ids.for_request(request.headers.get(REQUEST_ID_HEADER))
        fields: dict[str, Any] = {}
        request[EXCHANGE] = Exchange(request_id, fields)
        try:
            if request.version not in HTTP_VERSIONS:
                raise unsupported_http_version()
            response = await handler(request)
        except Exception as error:
            response = _failure_response(error, request_id, fields, access_log)
        if not response.prepared:
            response.headers[REQUEST_ID_HEADER] = request_id
            response.headers[hdrs.SERVER] = service  # not aiohttp's banner
        line = {
            "request_id": request_id,
            "method": request.method,
            "path": request.path,
            "status": response.status,
            "duration_ms": ms_since(started),
            **fields,
        }
        access_fields.add(request, response, line)
        access_log.info("request", line)
        return response

    return request_context


def _failure_response(
    error: Exception, request_id: str, fields: dict[str, Any], access_log: AccessLog
) -> web.StreamResponse:
    if isinstance(error, ApiError):
        if error.reason is not None:
            fields.setdefault("reason", error.reason)
        response = error_response(
            error.status,
            error.message,
            request_id=request_id,
            code=error.code,
            headers=error.headers,
        )
        if error.close_connection:
            response.force_close()
        return response
    if isinstance(error, web.HTTPException):
        return from_http_exception(error, request_id)
    # The type and the place, never the traceback or the message: either may hold data.
    access_log.error("unhandled_error", request_id=request_id, **error_location(error))
    return error_response(500, "internal error", request_id=request_id)


def ms_since(started: float) -> float:
    """Milliseconds since a `time.perf_counter()` reading, to the microsecond."""
    return round((time.perf_counter() - started) * 1000, 3)
