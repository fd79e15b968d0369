"""Slow clients cannot starve the upstream pool: heads and bodies are bounded in time (408),
small bodies are read before a connection is taken, waiting for one is bounded (503), and the
identity is signed when the request is written."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from gateway.forward.http1.pool import UpstreamClient
from tests.gateway.conftest import Stack, StackFactory, bearer, make_token
from tests.gateway.raw_upstream import RawUpstream, answer

ALICE = f"Bearer {make_token('alice', ttl=600)}"


def limits(**values: Any) -> Callable[[dict[str, Any]], None]:
    def configure(config: dict[str, Any]) -> None:
        config.setdefault("limits", {}).update(values)

    return configure


async def open_raw(stack: Stack, data: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    assert stack.client.server.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", stack.client.server.port)
    writer.write(data)
    await writer.drain()
    return reader, writer


async def answer_of(reader: asyncio.StreamReader) -> tuple[int, dict[str, Any]]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert b"\r\nconnection: close\r\n" in head.lower()
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    body = await asyncio.wait_for(reader.readexactly(length), 10)
    return int(head.split()[1]), json.loads(body)


async def test_a_request_head_that_does_not_arrive_is_a_408(make_stack: StackFactory) -> None:
    stack = await make_stack(limits(head_timeout_seconds=0.2))
    reader, writer = await open_raw(stack, b"GET /api/alice/tasks HTTP/1.1\r\nHost: x\r\n")
    status, body = await answer_of(reader)
    writer.close()
    assert (status, body["error"]) == (408, "request_timeout")
    assert "/api/alice" not in json.dumps(body)  # nothing of the request is echoed
    assert stack.recorder.seen == []


async def test_a_silent_connection_is_closed_with_a_408(make_stack: StackFactory) -> None:
    stack = await make_stack(limits(head_timeout_seconds=0.2))
    reader, writer = await open_raw(stack, b"")
    status, body = await answer_of(reader)
    writer.close()
    assert (status, body["error"]) == (408, "request_timeout")


async def test_a_kept_alive_connection_gets_a_fresh_head_timer(make_stack: StackFactory) -> None:
    stack = await make_stack(limits(head_timeout_seconds=0.3))
    request = f"GET /api/alice/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: {ALICE}\r\n\r\n"
    reader, writer = await open_raw(stack, request.encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert head.startswith(b"HTTP/1.1 200")
    writer.write(b"GET /api/alice/tasks HTTP/1.1\r\n")  # the next head, never finished
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert b"HTTP/1.1 408" in data


async def test_a_body_that_stops_moving_is_a_408_and_never_reaches_the_upstream(
    make_stack: StackFactory,
) -> None:
    stack = await make_stack(limits(body_idle_timeout_seconds=0.2))
    head = (
        f"POST /api/alice/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: {ALICE}\r\n"
        "Content-Length: 100\r\n\r\n0123456789"
    )
    reader, writer = await open_raw(stack, head.encode())
    status, body = await answer_of(reader)
    writer.close()
    assert (status, body["error"]) == (408, "request_timeout")
    assert stack.recorder.started == []  # a small body is read whole before forwarding


async def test_waiting_for_a_connection_is_bounded_and_a_503(make_stack: StackFactory) -> None:
    def configure(config: dict[str, Any]) -> None:
        config["connection_pool"] = {"max_connections": 1, "wait_timeout_seconds": 0.2}

    stack = await make_stack(configure)
    slow = asyncio.ensure_future(stack.client.get("/api/alice/tasks/slow", headers=bearer("alice")))
    await stack.recorder.wait_started("GET /api/alice/tasks/slow")
    waiting = await stack.client.get("/api/alice/tasks", headers=bearer("alice"))
    assert waiting.status == 503
    assert (await waiting.json())["error"] == "upstream_unavailable"
    stack.recorder.slow_release.set()
    assert (await slow).status == 200


async def test_hundreds_of_trickling_clients_hold_no_upstream_connection(
    make_stack: StackFactory,
) -> None:
    def configure(config: dict[str, Any]) -> None:
        config["connection_pool"] = {"max_connections": 2, "wait_timeout_seconds": 5}
        config["limits"] = {"body_idle_timeout_seconds": 30}
        # 320 of alice's requests at once would pass her rate limit: not what this is about.
        config["rate_limits"] = {"per_user": 0}

    stack = await make_stack(configure)
    head = (
        f"POST /api/alice/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: {ALICE}\r\n"
        "Content-Length: 1000\r\n\r\n{"
    )
    slow = [await open_raw(stack, head.encode()) for _ in range(300)]
    try:
        answers = await asyncio.wait_for(
            asyncio.gather(
                *(
                    stack.client.post("/api/alice/tasks", headers=bearer("alice"), data=b"{}")
                    for _ in range(20)
                )
            ),
            30,
        )
        assert [response.status for response in answers] == [200] * 20
        assert stack.recorder.started == ["POST /api/alice/tasks"] * 20
    finally:
        for _, writer in slow:
            writer.close()


async def test_the_identity_is_signed_once_a_connection_is_ours(
    raw_upstream: Callable[..., Any],
) -> None:
    upstream: RawUpstream = await raw_upstream(answer("HTTP/1.1 200 OK\nContent-Length: 2\n\nok"))
    upstream.gate = asyncio.Event()
    client = UpstreamClient(max_connections=1, idle_timeout=30.0)
    pool = client.pool(
        "127.0.0.1",
        upstream.port,
        f"127.0.0.1:{upstream.port}",
        connect_timeout=5,
        read_timeout=5,
        tls=upstream.tls,
    )
    events: list[str] = []

    def signed(name: str) -> Callable[[], list[tuple[str, str]]]:
        def late() -> list[tuple[str, str]]:
            events.append(f"signed {name}")
            return [("X-Signed", name)]

        return late

    try:
        first = asyncio.ensure_future(pool.request("GET", "/a", [], late_headers=signed("a")))
        await asyncio.wait_for(upstream.arrived.wait(), 5)
        second = asyncio.ensure_future(pool.request("GET", "/b", [], late_headers=signed("b")))
        await asyncio.sleep(0.05)  # queued for the one connection
        assert events == ["signed a"]
        upstream.gate.set()
        answered = await asyncio.wait_for(first, 5)
        await answered.read()
        events.append("released a")
        answered.release()
        (await asyncio.wait_for(second, 5)).release()
    finally:
        client.close()
    assert events == ["signed a", "released a", "signed b"]
    assert b"X-Signed: b" in upstream.heads[1]
