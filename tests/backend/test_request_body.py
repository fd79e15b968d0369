"""Compressed request bodies: gzip and deflate are decoded, the limit holds on the decoded size."""

from __future__ import annotations

import gzip
import io
import tracemalloc
import zlib
from collections.abc import Callable

import orjson
import pytest
from aiohttp import ClientResponse

from tests.backend.conftest import Api, identity_headers
from tests.backend.test_tasks import error_of

PATH = "/api/alice/tasks"
LIMIT = 1024 * 1024
BODY = orjson.dumps({"title": "sent compressed", "description": "é" * 100})


def _deflate(data: bytes) -> bytes:
    return zlib.compress(data)  # RFC 9110's "deflate" is a zlib stream


def _bomb(decoded_bytes: int) -> bytes:
    """A gzip body of zeros, a few hundredths of its decoded size, made a MiB at a time."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"\0" * (1024 * 1024)
    parts = [compressor.compress(block) for _ in range(decoded_bytes // len(block))]
    return b"".join([*parts, compressor.flush()])


async def _post(api: Api, data: bytes, encoding: str) -> ClientResponse:
    headers = {"Content-Encoding": encoding, "Content-Type": "application/json"}
    return await api.call("POST", PATH, data=data, headers=headers)


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [("gzip", gzip.compress), ("x-gzip", gzip.compress), ("deflate", _deflate)],
)
async def test_a_compressed_body_is_decoded(
    api: Api, encoding: str, encode: Callable[[bytes], bytes]
) -> None:
    headers = {"Content-Encoding": encoding.upper(), "Content-Type": "application/json"}
    response = await api.call("POST", PATH, data=encode(BODY), headers=headers)
    assert response.status == 201, await response.text()
    task = await response.json()
    assert (task["title"], task["description"]) == ("sent compressed", "é" * 100)


async def test_identity_is_the_body_as_sent(sqlite_api: Api) -> None:
    response = await sqlite_api.call(
        "POST", PATH, data=BODY, headers={"Content-Encoding": "identity"}
    )
    assert response.status == 201


async def test_the_limit_holds_on_the_decoded_size(sqlite_api: Api) -> None:
    body = b'{"title": "' + b"x" * LIMIT + b'"}'
    response = await sqlite_api.call(
        "POST", PATH, data=gzip.compress(body), headers={"Content-Encoding": "gzip"}
    )
    await error_of(response, 413, "payload_too_large")


async def test_a_decompression_bomb_is_413_without_memory_growth(sqlite_api: Api) -> None:
    bomb = _bomb(256 * LIMIT)
    assert len(bomb) < LIMIT
    tracemalloc.start()
    try:
        response = await sqlite_api.call(
            "POST", PATH, data=io.BytesIO(bomb), headers={"Content-Encoding": "gzip"}
        )
        await error_of(response, 413, "payload_too_large")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The decoded 256 MiB never exist: at most the limit, plus the bomb and the test's own.
    assert peak < 8 * LIMIT


@pytest.mark.parametrize(
    "encoding", ["br", "compress", "zstd", "gzip, br", "gzip, gzip", "secret-token-value", "*"]
)
async def test_an_encoding_not_decoded_is_415(sqlite_api: Api, encoding: str) -> None:
    response = await _post(sqlite_api, gzip.compress(BODY), encoding)
    error = await error_of(response, 415, "unsupported_media_type")
    assert encoding not in error["message"]


async def test_two_content_encoding_headers_are_415(sqlite_api: Api) -> None:
    headers = [("Content-Encoding", "gzip"), ("Content-Encoding", "gzip")]
    response = await sqlite_api.client.post(
        PATH,
        data=gzip.compress(gzip.compress(BODY)),
        headers=headers + list(identity_headers("POST", PATH, "alice").items()),
    )
    await error_of(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    ("encoding", "data"),
    [
        ("gzip", b"not gzip at all"),
        ("gzip", gzip.compress(BODY)[:-12]),  # cut short
        ("gzip", gzip.compress(BODY) + b"trailing"),
        ("gzip", b""),
        ("deflate", gzip.compress(BODY)),  # a gzip member is not a zlib stream
        ("deflate", _deflate(BODY)[:-4]),
    ],
)
async def test_a_malformed_compressed_body_is_400(
    sqlite_api: Api, encoding: str, data: bytes
) -> None:
    error = await error_of(await _post(sqlite_api, data, encoding), 400, "bad_request")
    assert encoding in error["message"]
