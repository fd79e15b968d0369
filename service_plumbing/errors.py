"""The JSON error body both services answer with, and the one exception handlers raise."""

from __future__ import annotations

import orjson
from aiohttp import HttpVersion10, HttpVersion11, web

# The HTTP versions both services serve, the likeliest first. aiohttp's parser refuses most
# others itself but lets `HTTP/0.9` and `HTTP/2.0` request lines through.
HTTP_VERSIONS = (HttpVersion11, HttpVersion10)

# The contract's error code for each status; anything unlisted falls back by class.
ERROR_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    431: "bad_request",
    502: "upstream_unavailable",
    503: "unavailable",
    504: "upstream_timeout",
}


class ApiError(Exception):
    """Raised anywhere in a request; the request middleware turns it into the JSON body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        reason: str | None = None,
        close_connection: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or code_for_status(status)
        self.message = message
        self.headers = headers or {}
        # A stable reason code for the access line (e.g. `expired`), never shown as-is to clients.
        self.reason = reason
        # The connection cannot carry another request after this answer.
        self.close_connection = close_connection


def unsupported_http_version() -> ApiError:
    """The refusal of a request line whose version is not in `HTTP_VERSIONS`."""
    return ApiError(
        400,
        "unsupported HTTP version",
        reason="unsupported_http_version",
        close_connection=True,
    )


def code_for_status(status: int) -> str:
    if status in ERROR_CODES:
        return ERROR_CODES[status]
    return "internal_error" if status >= 500 else "bad_request"


def error_response(
    status: int,
    message: str,
    *,
    request_id: str,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = {"error": code or code_for_status(status), "message": message, "request_id": request_id}
    return web.Response(
        status=status,
        body=orjson.dumps(body),
        content_type="application/json",
        headers=headers,
    )


# aiohttp's own refusals (router, body size), in the contract's words.
_HTTP_EXCEPTION_MESSAGES = {
    404: "no such route",
    405: "method not allowed",
    413: "the request body is too large",
}


def from_http_exception(error: web.HTTPException, request_id: str) -> web.Response:
    """An aiohttp `HTTPException` as the contract's JSON (its `Allow` header kept)."""
    message = _HTTP_EXCEPTION_MESSAGES.get(error.status, error.reason)
    headers = {"Allow": error.headers["Allow"]} if "Allow" in error.headers else None
    return error_response(error.status, message, request_id=request_id, headers=headers)


def error_location(error: BaseException) -> dict[str, str]:
    """An unexpected error's type and the place it was raised: never its message or
    traceback, either of which may hold request data."""
    frame = error.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    place = f"{frame.tb_frame.f_code.co_filename}:{frame.tb_lineno}" if frame else "unknown"
    return {"error_type": type(error).__name__, "where": place}
