"""`JsonErrorServer` on its own: parser refusals and handler failures aiohttp answers itself
come back as the contract's JSON, with the service's name as `Server`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from service_plumbing.http_server import JsonErrorServer


async def broken(request: web.BaseRequest) -> web.StreamResponse:
    raise RuntimeError("secret=hunter2 must stay private")


@pytest.fixture
async def port() -> AsyncIterator[int]:
    runner = web.ServerRunner(JsonErrorServer(broken, service="svc", max_headers=4))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield runner.addresses[0][1]
    await runner.cleanup()


async def exchange(port: int, data: bytes) -> tuple[str, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    received = await reader.read()
    writer.close()
    head, _, body = received.partition(b"\r\n\r\n")
    return head.decode(), body


async def test_a_handler_failure_is_a_json_500_without_the_message(port: int) -> None:
    head, body = await exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = json.loads(body)
    assert head.startswith("HTTP/1.1 500")
    assert answer["error"] == "internal_error"
    assert f"X-Request-ID: {answer['request_id']}" in head
    assert "Server: svc" in head
    assert b"hunter2" not in body


async def test_too_many_headers_is_a_json_400(port: int) -> None:
    many = b"".join(b"X-%d: y\r\n" % i for i in range(8))
    head, body = await exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert head.split()[1] == "400"
    assert json.loads(body)["error"] == "bad_request"
    assert "Server: svc" in head
