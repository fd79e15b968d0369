"""Reading a request body: gzip and deflate decoded, the size limit held on the decoded bytes.

The server must run with aiohttp's `auto_decompress=False` (see `backend.app.SERVER_OPTIONS`):
this module then sees the bytes as sent and decodes them a bounded piece at a time, so a
decompression bomb costs at most the limit in memory before it is refused.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

from aiohttp import web

from service_plumbing.errors import ApiError

READ_CHUNK_BYTES = 64 * 1024
# zlib's window bits: 16 + MAX_WBITS reads a gzip member, MAX_WBITS a zlib stream (RFC 9110's
# "deflate").
_WINDOW_BITS = {
    "gzip": 16 + zlib.MAX_WBITS,
    "x-gzip": 16 + zlib.MAX_WBITS,
    "deflate": zlib.MAX_WBITS,
}
_IDENTITY = ("", "identity")


def too_large(limit: int) -> ApiError:
    return ApiError(413, f"the request body is larger than {limit} bytes", code="payload_too_large")


def _malformed(encoding: str) -> ApiError:
    return ApiError(400, f"the request body is not valid {encoding} data")


def _encoding(request: web.Request) -> str:
    values = request.headers.getall("Content-Encoding", [])
    if len(values) > 1:
        raise _unsupported()
    encoding = values[0].strip().lower() if values else ""
    if encoding not in _IDENTITY and encoding not in _WINDOW_BITS:
        raise _unsupported()
    return encoding


def _unsupported() -> ApiError:
    # The header's value is not quoted back: it is the client's bytes.
    return ApiError(
        415,
        "the request body's Content-Encoding is not supported; use gzip, deflate or none",
        code="unsupported_media_type",
    )


async def read_body(request: web.Request) -> bytes:
    """The decoded body, at most `request.client_max_size` bytes, or a 400/413/415 `ApiError`."""
    limit = request.client_max_size
    encoding = _encoding(request)
    if request.content_length is not None and request.content_length > limit:
        raise too_large(limit)
    if encoding in _IDENTITY:
        return await _read_plain(request, limit)
    return await _read_decoded(request, limit, encoding)


async def _read_plain(request: web.Request, limit: int) -> bytes:
    body = bytearray()
    async for chunk in request.content.iter_chunked(READ_CHUNK_BYTES):
        body += chunk
        if len(body) > limit:
            raise too_large(limit)
    return bytes(body)


async def _read_decoded(request: web.Request, limit: int, encoding: str) -> bytes:
    decoder = zlib.decompressobj(_WINDOW_BITS[encoding])
    body = bytearray()
    received = 0
    async for chunk in request.content.iter_chunked(READ_CHUNK_BYTES):
        received += len(chunk)
        if received > limit:
            raise too_large(limit)
        _decode(decoder.decompress, chunk, body, limit, encoding)
        while decoder.unconsumed_tail:
            _decode(decoder.decompress, decoder.unconsumed_tail, body, limit, encoding)
        if decoder.unused_data:
            raise _malformed(encoding)  # bytes after the end of the compressed stream
    if not decoder.eof:
        raise _malformed(encoding)  # the stream was cut short
    return bytes(body)


def _decode(
    decompress: Callable[[bytes, int], bytes],
    data: bytes,
    body: bytearray,
    limit: int,
    encoding: str,
) -> None:
    # Never more output than one byte past the limit: that byte is enough to refuse the body.
    try:
        body += decompress(data, limit - len(body) + 1)
    except zlib.error:
        raise _malformed(encoding) from None
    if len(body) > limit:
        raise too_large(limit)
