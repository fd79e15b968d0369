"""Streaming both ways, upstream failures, limits, hop-by-hop and forwarding headers."""

from __future__ import annotations

import hashlib
import io
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import pytest

from tests.gateway.conftest import Stack, StackFactory, bearer, pattern, pattern_digest, raw_request

FIFTY_MB = 50 * 1024 * 1024


def body_limit(size: int) -> Any:
    def configure(config: dict[str, Any]) -> None:
        config["limits"]["max_body_bytes"] = size

    return configure


async def generated(size: int) -> AsyncIterator[bytes]:
    for chunk in pattern(size)():
        yield chunk


@contextmanager
def peak_memory() -> Iterator[list[int]]:
    """The peak of Python allocations inside the block (client, gateway and upstream alike)."""
    peak: list[int] = []
    tracemalloc.start()
    try:
        yield peak
        peak.append(tracemalloc.get_traced_memory()[1])
    finally:
        tracemalloc.stop()


async def test_50_mb_upload_streams_through(make_stack: StackFactory) -> None:
    stack = await make_stack(body_limit(64 * 1024 * 1024))
    with peak_memory() as peak:
        response = await stack.client.post(
            "/api/alice/tasks", headers=bearer("alice"), data=generated(FIFTY_MB)
        )
        assert response.status == 200
        body = await response.json()
    assert body["bytes"] == FIFTY_MB
    assert body["sha256"] == pattern_digest(FIFTY_MB)
    assert peak[0] < FIFTY_MB // 5


async def test_50_mb_upload_with_content_length(make_stack: StackFactory) -> None:
    stack = await make_stack(body_limit(64 * 1024 * 1024))
    headers = {**bearer("alice"), "Content-Length": str(FIFTY_MB)}
    response = await stack.client.post(
        "/api/alice/tasks", headers=headers, data=generated(FIFTY_MB)
    )
    assert response.status == 200
    assert (await response.json())["bytes"] == FIFTY_MB
    assert stack.recorder.seen[0].headers["Content-Length"] == str(FIFTY_MB)


async def test_50_mb_download_streams_through(stack: Stack) -> None:
    with peak_memory() as peak:
        response = await stack.client.get(
            f"/api/alice/tasks/download?size={FIFTY_MB}", headers=bearer("alice")
        )
        assert response.status == 200
        digest, total = hashlib.sha256(), 0
        async for chunk in response.content.iter_chunked(256 * 1024):
            digest.update(chunk)
            total += len(chunk)
    assert peak[0] < FIFTY_MB // 5
    assert total == FIFTY_MB
    assert digest.hexdigest() == pattern_digest(FIFTY_MB)
    assert response.headers["X-Request-ID"]


async def test_oversize_content_length_is_413_before_the_upstream(stack: Stack) -> None:
    response = await stack.client.post(
        "/api/alice/tasks", headers=bearer("alice"), data=io.BytesIO(b"x" * (1024 * 1024 + 1))
    )
    assert response.status == 413
    assert (await response.json())["error"] == "payload_too_large"
    assert stack.recorder.seen == []


async def test_oversize_chunked_body_is_413(stack: Stack) -> None:
    response = await stack.client.post(
        "/api/alice/tasks", headers=bearer("alice"), data=generated(3 * 1024 * 1024)
    )
    assert response.status == 413
    assert (await response.json())["error"] == "payload_too_large"


async def test_body_at_the_limit_passes(stack: Stack) -> None:
    response = await stack.client.post(
        "/api/alice/tasks", headers=bearer("alice"), data=generated(1024 * 1024)
    )
    assert response.status == 200
    assert (await response.json())["bytes"] == 1024 * 1024


async def test_upstream_down_is_502(make_stack: StackFactory) -> None:
    def dead(config: dict[str, Any]) -> None:
        config["upstreams"]["backend"]["url"] = "http://127.0.0.1:9"

    stack = await make_stack(dead)
    response = await stack.client.get("/api/alice/tasks", headers=bearer("alice"))
    assert response.status == 502
    body = await response.json()
    assert body["error"] == "upstream_unavailable"
    assert body["request_id"] == response.headers["X-Request-ID"]


async def test_upstream_hanging_up_is_502(stack: Stack) -> None:
    response = await stack.client.get("/api/alice/tasks/hangup", headers=bearer("alice"))
    assert response.status == 502
    assert (await response.json())["error"] == "upstream_unavailable"
    # aiohttp replays an idempotent request once (RFC 9112 9.3.1), never a consumed body.
    assert stack.recorder.paths() == ["/api/alice/tasks/hangup"] * 2


async def test_requests_with_a_body_are_never_replayed(stack: Stack) -> None:
    response = await stack.client.put(
        "/api/alice/tasks/hangup", headers=bearer("alice"), data=b"{}"
    )
    assert response.status == 502
    assert stack.recorder.paths() == ["/api/alice/tasks/hangup"]


async def test_upstream_breaking_mid_body_cuts_the_client_connection(stack: Stack) -> None:
    response = await stack.client.get("/api/alice/tasks/broken", headers=bearer("alice"))
    assert response.status == 200
    with pytest.raises(aiohttp.ClientPayloadError):
        await response.read()


async def test_upstream_breaking_a_small_body_is_502(stack: Stack) -> None:
    response = await stack.client.get("/api/alice/tasks/broken?length=100", headers=bearer("alice"))
    assert response.status == 502
    assert (await response.json())["error"] == "upstream_unavailable"


async def test_slow_upstream_is_504(make_stack: StackFactory) -> None:
    def impatient(config: dict[str, Any]) -> None:
        config["upstreams"]["backend"]["read_timeout_seconds"] = 0.2

    stack = await make_stack(impatient)
    try:
        response = await stack.client.get("/api/alice/tasks/slow", headers=bearer("alice"))
        assert response.status == 504
        assert (await response.json())["error"] == "upstream_timeout"
    finally:
        stack.recorder.slow_release.set()


async def test_hop_by_hop_headers_are_dropped(stack: Stack) -> None:
    head = (
        "GET /api/alice/tasks HTTP/1.1\nHost: gw.example\n"
        f"Authorization: {bearer('alice')['Authorization']}\n"
        "Connection: close, X-Drop-Me\nX-Drop-Me: 1\nKeep-Alive: timeout=5\nTE: trailers\n"
        "Upgrade: websocket\nProxy-Authorization: Basic eA==\nX-Keep-Me: 1\n\n"
    )
    status, _ = await raw_request(stack.client, head)
    assert status == 200
    headers = stack.recorder.seen[0].headers
    for name in ("X-Drop-Me", "Keep-Alive", "TE", "Upgrade", "Proxy-Authorization"):
        assert name not in headers
    assert headers["X-Keep-Me"] == "1"


async def test_forwarded_headers_ignore_untrusted_clients(stack: Stack) -> None:
    headers = {
        **bearer("alice"),
        "X-Forwarded-For": "6.6.6.6",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "evil.example",
        "Forwarded": "for=6.6.6.6;proto=https",
        "X-Real-IP": "6.6.6.6",
    }
    response = await stack.client.get("/api/alice/tasks", headers=headers)
    assert response.status == 200
    seen = stack.recorder.seen[0].headers
    assert "Forwarded" not in seen
    assert "X-Real-IP" not in seen
    assert seen.getall("X-Forwarded-For") == ["127.0.0.1"]
    assert seen["X-Forwarded-Proto"] == "http"
    assert seen["X-Forwarded-Host"] != "evil.example"


async def test_forwarded_headers_from_trusted_proxies_are_extended(
    make_stack: StackFactory,
) -> None:
    def trust_loopback(config: dict[str, Any]) -> None:
        config["trusted_proxies"] = ["127.0.0.0/8"]

    stack = await make_stack(trust_loopback)
    headers = {
        **bearer("alice"),
        "X-Forwarded-For": "203.0.113.7",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "todo.example",
        "X-Real-IP": "203.0.113.7",
    }
    await stack.client.get("/api/alice/tasks", headers=headers)
    seen = stack.recorder.seen[0].headers
    assert seen["X-Real-IP"] == "203.0.113.7"
    assert seen["X-Forwarded-For"] == "203.0.113.7, 127.0.0.1"
    assert seen["X-Forwarded-Proto"] == "https"
    assert seen["X-Forwarded-Host"] == "todo.example"


async def test_response_headers_and_request_id_pass_back(stack: Stack) -> None:
    response = await stack.client.get("/api/alice/tasks", headers=bearer("alice"))
    assert response.headers["X-Upstream"] == "yes"
    assert "Keep-Alive" not in response.headers
    assert "Proxy-Authenticate" not in response.headers
    assert response.headers.getall("Set-Cookie") == ["a=1; Path=/", "b=2; Path=/"]
    assert response.headers["X-Request-ID"] == stack.recorder.seen[0].headers["X-Request-ID"]


async def test_upstream_gets_no_invented_accept_encoding(stack: Stack) -> None:
    await stack.client.get(
        "/api/alice/tasks", headers=bearer("alice"), skip_auto_headers=["Accept-Encoding"]
    )
    assert "Accept-Encoding" not in stack.recorder.seen[0].headers


async def test_head_request(stack: Stack) -> None:
    response = await stack.client.head("/api/alice/tasks", headers=bearer("alice"))
    assert response.status == 200
    assert await response.read() == b""


async def test_connection_nominations_leave_no_memory_behind(stack: Stack) -> None:
    """A client's Connection header names what to drop for that request only: nothing built
    from it may outlive the request (a cache keyed on it grew by the MB per request)."""
    await stack.client.get("/api/alice/tasks", headers=bearer("alice"))  # warm every cache
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for round_ in range(20):
            nominated = ", ".join(f"x-n{round_}-{i}" for i in range(3000))  # about 40 KB
            response = await stack.client.get(
                "/api/alice/tasks", headers={**bearer("alice"), "Connection": nominated}
            )
            assert response.status == 200
            await response.read()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 2 * 1024 * 1024, f"{grown} bytes still held after 20 requests"
