"""`Expect: 100-continue` is answered only once the request may go through; other
expectations are refused (RFC 9110 10.1.1). Also: the plain `AppRunner` path (aiohttp's
router, as `aiohttp_client(create_app(...))` serves it) behaves like the production runner."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from gateway.app import create_app
from gateway.serve import runner_options
from tests.gateway.conftest import Stack, default_config, gateway_env, make_token, settings_for

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


async def _open(stack: Stack) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    assert stack.client.server.port is not None
    return await asyncio.open_connection("127.0.0.1", stack.client.server.port)


async def _answer(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One answer's head and body (the connection may stay open: its body was never sent)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head, await asyncio.wait_for(reader.readexactly(length), 10)


def _upload_head(token: str, expect: str = "100-continue", length: int = 5) -> bytes:
    return (
        f"POST /api/alice/tasks HTTP/1.1\r\nHost: g\r\nExpect: {expect}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: {length}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()


async def test_an_authorised_upload_gets_100_continue_then_goes_through(stack: Stack) -> None:
    reader, writer = await _open(stack)
    try:
        writer.write(_upload_head(make_token("alice")))
        assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10) == CONTINUE
        writer.write(b"hello")
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert stack.recorder.seen[0].body_bytes == 5
    assert "Expect" not in stack.recorder.seen[0].headers


async def test_a_refused_upload_never_gets_100_continue(stack: Stack) -> None:
    reader, writer = await _open(stack)
    try:
        writer.write(_upload_head(make_token("bob")))  # bob may not write alice's tasks
        head, _ = await _answer(reader)
    finally:
        writer.close()
    assert head.startswith(b"HTTP/1.1 403 ")  # not 100 Continue first
    assert stack.recorder.seen == []


async def test_an_upload_declared_too_large_gets_413_not_100_continue(stack: Stack) -> None:
    reader, writer = await _open(stack)
    try:
        writer.write(_upload_head(make_token("alice"), length=5_000_000))
        head, body = await _answer(reader)
    finally:
        writer.close()
    assert head.startswith(b"HTTP/1.1 413 ")  # not 100 Continue first
    assert orjson.loads(body)["error"] == "payload_too_large"
    assert stack.recorder.seen == []


async def test_an_empty_expect_header_expects_nothing(stack: Stack) -> None:
    reader, writer = await _open(stack)
    try:
        writer.write(_upload_head(make_token("alice"), expect="") + b"hello")
        head, _ = await _answer(reader)
    finally:
        writer.close()
    assert head.startswith(b"HTTP/1.1 200 ")
    assert stack.recorder.seen[0].body_bytes == 5


async def test_an_unknown_expectation_is_417_and_not_forwarded(stack: Stack) -> None:
    reader, writer = await _open(stack)
    try:
        writer.write(_upload_head(make_token("alice"), expect="200-ok"))
        head, body = await _answer(reader)
    finally:
        writer.close()
    assert head.startswith(b"HTTP/1.1 417 ")
    assert orjson.loads(body)["message"] == "only Expect: 100-continue is supported"
    assert stack.recorder.seen == []


async def test_the_router_path_serves_the_same_pipeline(
    upstream: Any, aiohttp_server: Any, aiohttp_client: Any
) -> None:
    upstream_url = str(upstream.make_url("")).rstrip("/")
    config = default_config()
    config["upstreams"]["better_auth"] = {"url": upstream_url}
    config["auth"]["jwks"] = []
    settings = settings_for(config, gateway_env(BACKEND_URL=upstream_url))
    server = await aiohttp_server(create_app(settings), **runner_options(settings))
    client = await aiohttp_client(server)
    origin = {"Origin": "http://localhost:3000"}

    ok = await client.get(
        "/api/alice/tasks", headers={"Authorization": f"Bearer {make_token()}", **origin}
    )
    refused = await client.get("/api/alice/tasks", headers=origin)

    assert ok.status == 200
    assert ok.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert refused.status == 401
    assert refused.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert (await refused.json())["request_id"] == refused.headers["X-Request-ID"]
