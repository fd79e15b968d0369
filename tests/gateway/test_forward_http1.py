"""The gateway's HTTP/1.1 client against real loopback servers, over plain TCP and over TLS
(every test runs on both): aiohttp for the ordinary answers, a raw asyncio server for the odd
framings and the failures."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.forward.http1.pool import (
    StreamedBody,
    UpstreamClient,
    UpstreamClosed,
    UpstreamPool,
    UpstreamProtocolError,
)
from tests.gateway.conftest import StackFactory, backend_at, bearer
from tests.gateway.raw_upstream import Endpoint, RawUpstream, answer
from tests.gateway.tls import Certificate


@pytest.fixture
async def client() -> AsyncIterator[UpstreamClient]:
    fast = UpstreamClient(max_connections=8, idle_timeout=30.0)
    yield fast
    fast.close()


def pool_for(
    fast: UpstreamClient, upstream: RawUpstream | Endpoint, *, read_timeout: float = 5.0
) -> UpstreamPool:
    port = upstream.port
    return fast.pool(
        "127.0.0.1",
        port,
        f"127.0.0.1:{port}",
        connect_timeout=5.0,
        read_timeout=read_timeout,
        tls=upstream.tls,
    )


async def get(
    pool: UpstreamPool, target: str = "/x", method: str = "GET"
) -> tuple[int, Any, bytes]:
    response = await pool.request(method, target, [("X-Test", "1")])
    try:
        return response.status, response.headers, await response.read()
    finally:
        response.release()


# --- an aiohttp upstream -------------------------------------------------------------------


async def _aiohttp_upstream(
    aiohttp_server: Any, server_tls: ssl.SSLContext | None, certificate: Certificate
) -> Endpoint:
    async def echo(request: web.Request) -> web.StreamResponse:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        response = web.json_response(
            {
                "target": request.raw_path,
                "peer": list(peer or ()),
                "host": request.headers.get("Host"),
                "x_test": request.headers.getall("X-Test", []),
            }
        )
        response.headers.add("Set-Cookie", "a=1")
        response.headers.add("Set-Cookie", "b=2")
        return response

    async def big(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()  # chunked
        await response.prepare(request)
        for index in range(32):
            await response.write(bytes([index]) * 65536)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/big", big)
    app.router.add_route("*", "/{tail:.*}", echo)
    server: TestServer = await aiohttp_server(app, ssl=server_tls)
    assert server.port is not None
    return Endpoint(server.port, certificate.client_context() if server_tls else None)


async def test_aiohttp_upstream_sees_exact_target_host_and_headers_and_reuse(
    client: UpstreamClient,
    aiohttp_server: Any,
    server_tls: ssl.SSLContext | None,
    certificate: Certificate,
) -> None:
    server = await _aiohttp_upstream(aiohttp_server, server_tls, certificate)
    pool = pool_for(client, server)
    target = "/a/%61b/../c?q=%zz&x=[1]"
    status, headers, body = await get(pool, target)
    seen = json.loads(body)
    assert status == 200
    assert seen["target"] == target
    assert seen["host"] == f"127.0.0.1:{server.port}"
    assert seen["x_test"] == ["1"]
    assert headers.getall("Set-Cookie") == ["a=1", "b=2"]
    _, _, again = await get(pool, "/y", method="DELETE")
    assert json.loads(again)["peer"] == seen["peer"]  # the same kept-alive connection


async def test_large_chunked_answer_streams_in_order(
    client: UpstreamClient,
    aiohttp_server: Any,
    server_tls: ssl.SSLContext | None,
    certificate: Certificate,
) -> None:
    server = await _aiohttp_upstream(aiohttp_server, server_tls, certificate)
    response = await pool_for(client, server).request("GET", "/big", [])
    received = bytearray()
    try:
        async for chunk in response.iter_chunks():
            received += chunk
    finally:
        response.release()
    assert bytes(received) == b"".join(bytes([index]) * 65536 for index in range(32))


# --- odd framings from a raw server --------------------------------------------------------


async def test_chunked_answer_is_decoded_and_connection_reused(
    client: UpstreamClient, raw_upstream: Any
) -> None:
    upstream = await raw_upstream(
        answer("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n3\nabc\n2\nde\n0\n\n")
    )
    pool = pool_for(client, upstream)
    assert (await get(pool))[2] == b"abcde"
    assert (await get(pool))[2] == b"abcde"
    assert upstream.connections == 1


async def test_close_delimited_answer_reads_to_the_end_and_is_not_reused(
    client: UpstreamClient, raw_upstream: Any
) -> None:
    upstream = await raw_upstream(answer("HTTP/1.1 200 OK\n\nuntil the end", close=True))
    pool = pool_for(client, upstream)
    assert (await get(pool))[2] == b"until the end"
    assert (await get(pool))[2] == b"until the end"
    assert upstream.connections == 2


@pytest.mark.parametrize(
    "text",
    [
        "HTTP/1.1 200 OK\nConnection: close\nContent-Length: 2\n\nok",
        "HTTP/1.0 200 OK\nContent-Length: 2\n\nok",
    ],
    ids=["connection-close", "http-1.0"],
)
async def test_no_reuse_when_the_upstream_says_so(
    client: UpstreamClient, raw_upstream: Any, text: str
) -> None:
    upstream = await raw_upstream(answer(text))  # the server keeps its end open
    pool = pool_for(client, upstream)
    assert (await get(pool))[2] == b"ok"
    assert (await get(pool))[2] == b"ok"
    assert upstream.connections == 2


async def test_interim_answers_are_skipped_and_204_has_no_body(
    client: UpstreamClient, raw_upstream: Any
) -> None:
    upstream = await raw_upstream(
        answer("HTTP/1.1 103 Early Hints\nLink: </a>\n\nHTTP/1.1 204 No Content\nX-A: 1\n\n")
    )
    pool = pool_for(client, upstream)
    status, headers, body = await get(pool)
    assert (status, headers.get("X-A"), headers.get("Link"), body) == (204, "1", None, b"")
    assert (await get(pool))[0] == 204
    assert upstream.connections == 1


@pytest.mark.parametrize(
    "text",
    [
        "HTTQ/1.1 200 OK\nContent-Length: 2\n\nok",
        "HTTP/1.1 2000 OK\nContent-Length: 2\n\nok",
        "HTTP/1.1 200 OK\nContent-Length: 2\nContent-Length: 3\n\nok",
        "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\nzz\nok\n0\n\n",
        "HTTP/1.1 101 Switching Protocols\nUpgrade: x\nConnection: upgrade\n\n",
        "HTTP/1.1 200 OK\nX-Big: " + "a" * 70000 + "\nContent-Length: 2\n\nok",
    ],
    ids=["status-line", "status-code", "two-lengths", "chunk-size", "switch", "huge-head"],
)
async def test_malformed_answers_raise_and_are_not_retried(
    client: UpstreamClient, raw_upstream: Any, text: str
) -> None:
    upstream = await raw_upstream(answer(text))
    with pytest.raises(UpstreamProtocolError):
        await get(pool_for(client, upstream))
    assert len(upstream.heads) == 1


async def test_bytes_after_the_answer_discard_the_connection(
    client: UpstreamClient, raw_upstream: Any
) -> None:
    upstream = await raw_upstream(answer("HTTP/1.1 200 OK\nContent-Length: 2\n\nokEXTRA"))
    pool = pool_for(client, upstream)
    await get(pool)
    await get(pool)
    assert upstream.connections == 2


async def test_a_dropped_keep_alive_connection_is_retried_once_on_a_fresh_one(
    client: UpstreamClient, raw_upstream: Any
) -> None:
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    # The first connection answers once, then drops the second request unanswered.
    upstream = await raw_upstream(lambda _h, conn, n: (None, True) if n == 1 else (ok, False))
    pool = pool_for(client, upstream)
    assert (await get(pool))[2] == b"ok"
    assert (await get(pool))[2] == b"ok"
    assert upstream.connections == 2
    assert len(upstream.heads) == 3


async def test_a_connection_the_upstream_closed_while_idle_is_not_used(
    client: UpstreamClient, raw_upstream: Any
) -> None:
    # HTTP/1.1 keep-alive by default, but the server hangs up right after each answer.
    upstream = await raw_upstream(answer("HTTP/1.1 200 OK\nContent-Length: 2\n\nok", close=True))
    pool = pool_for(client, upstream)
    for _ in range(3):
        assert (await get(pool))[2] == b"ok"
        await asyncio.sleep(0.05)  # let the hang-up arrive while the connection is idle
    assert (upstream.connections, len(upstream.heads)) == (3, 3)


async def test_no_retry_once_part_of_the_answer_arrived(
    client: UpstreamClient, raw_upstream: Any
) -> None:
    upstream = await raw_upstream(answer("HTTP/1.1 200 OK\nContent-Le", close=True))
    with pytest.raises(UpstreamClosed):
        await get(pool_for(client, upstream))
    assert len(upstream.heads) == 1


async def test_a_body_cut_short_raises(client: UpstreamClient, raw_upstream: Any) -> None:
    upstream = await raw_upstream(
        answer("HTTP/1.1 200 OK\nContent-Length: 10\n\nshort", close=True)
    )
    response = await pool_for(client, upstream).request("GET", "/", [])
    try:
        with pytest.raises(UpstreamClosed):
            await response.read()
    finally:
        response.release()


async def test_silence_is_a_timeout(client: UpstreamClient, raw_upstream: Any) -> None:
    upstream = await raw_upstream(lambda _h, _c, _n: (b"", False))
    with pytest.raises(TimeoutError):
        await get(pool_for(client, upstream, read_timeout=0.2))


async def test_refused_connection_is_an_os_error(
    client: UpstreamClient, server_tls: ssl.SSLContext | None
) -> None:
    probe = await asyncio.start_server(lambda _r, _w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    with pytest.raises(OSError):  # noqa: PT011 - any refusal is fine
        await get(pool_for(client, Endpoint(port, server_tls)))


@pytest.mark.parametrize(
    ("name", "value"),
    [("X-A", "a\r\nX-User-Id: bob"), ("X-A", "a\nb"), ("X-A", "a\x00b"), ("X-A\r\nB", "c")],
)
async def test_headers_with_line_breaks_are_refused_before_anything_is_sent(
    client: UpstreamClient, raw_upstream: Any, name: str, value: str
) -> None:
    upstream = await raw_upstream(answer("HTTP/1.1 200 OK\nContent-Length: 0\n\n"))
    with pytest.raises(ValueError, match="not safe"):
        await pool_for(client, upstream).request("GET", "/", [(name, value)])
    assert upstream.connections == 0


@pytest.mark.parametrize("target", ["/a b", "/a\r\nX-User-Id: bob", "/a\nb", "/a\x00"])
async def test_unsafe_request_targets_are_refused(
    client: UpstreamClient, raw_upstream: Any, target: str
) -> None:
    upstream = await raw_upstream(answer("HTTP/1.1 200 OK\nContent-Length: 0\n\n"))
    with pytest.raises(ValueError, match="not safe"):
        await pool_for(client, upstream).request("GET", target, [])
    assert upstream.connections == 0


async def test_idle_timeout_and_close_end_connections(raw_upstream: Any) -> None:
    upstream = await raw_upstream(answer("HTTP/1.1 200 OK\nContent-Length: 0\n\n"))
    fast = UpstreamClient(max_connections=8, idle_timeout=0.05)
    await get(pool_for(fast, upstream))
    await asyncio.wait_for(upstream.closed_by_peer.wait(), 5)
    assert (await get(pool_for(fast, upstream)))[0] == 200
    upstream.closed_by_peer.clear()
    fast.close()


async def test_the_connection_limit_queues_requests(raw_upstream: Any) -> None:
    upstream = await raw_upstream(answer("HTTP/1.1 200 OK\nContent-Length: 2\n\nok"))
    upstream.gate = asyncio.Event()
    fast = UpstreamClient(max_connections=1, idle_timeout=30.0)
    pool = pool_for(fast, upstream)
    try:
        requests = asyncio.gather(*(get(pool) for _ in range(3)))
        await asyncio.wait_for(upstream.arrived.wait(), 5)
        await asyncio.sleep(0.1)  # room for a (wrong) second connection to show up
        assert (upstream.connections, len(upstream.heads)) == (1, 1)
        upstream.gate.set()
        results = await asyncio.wait_for(requests, 5)
    finally:
        fast.close()
    assert [body for _, _, body in results] == [b"ok"] * 3
    assert upstream.connections == 1  # handed from one request to the next, kept alive


async def test_a_waiter_for_another_upstream_gets_the_slot_not_the_connection(
    raw_upstream: Any,
) -> None:
    first = await raw_upstream(answer("HTTP/1.1 200 OK\nContent-Length: 1\n\na"))
    second = await raw_upstream(answer("HTTP/1.1 200 OK\nContent-Length: 1\n\nb"))
    first.gate = asyncio.Event()
    fast = UpstreamClient(max_connections=1, idle_timeout=30.0)
    try:
        busy = asyncio.ensure_future(get(pool_for(fast, first)))
        await asyncio.wait_for(first.arrived.wait(), 5)
        waiting = asyncio.ensure_future(get(pool_for(fast, second)))
        await asyncio.sleep(0.05)
        first.gate.set()
        assert (await asyncio.wait_for(busy, 5))[2] == b"a"
        assert (await asyncio.wait_for(waiting, 5))[2] == b"b"
        await asyncio.wait_for(first.closed_by_peer.wait(), 5)  # closed to free the slot
    finally:
        fast.close()
    assert (first.connections, second.connections) == (1, 1)


async def test_a_request_that_gave_up_waiting_does_not_hold_up_the_next(
    raw_upstream: Any,
) -> None:
    upstream = await raw_upstream(answer("HTTP/1.1 200 OK\nContent-Length: 2\n\nok"))
    upstream.gate = asyncio.Event()
    fast = UpstreamClient(max_connections=1, idle_timeout=30.0)
    pool = pool_for(fast, upstream)
    try:
        first = asyncio.ensure_future(get(pool))
        await asyncio.wait_for(upstream.arrived.wait(), 5)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(get(pool), 0.05)  # queued for the one slot, then gives up
        upstream.gate.set()
        assert (await asyncio.wait_for(first, 5))[2] == b"ok"
        assert (await asyncio.wait_for(get(pool), 5))[2] == b"ok"  # reuses the idle one
    finally:
        fast.close()
    assert upstream.connections == 1


async def test_an_idle_connection_elsewhere_is_closed_to_make_room(
    raw_upstream: Any,
) -> None:
    first = await raw_upstream(answer("HTTP/1.1 200 OK\nContent-Length: 1\n\na"))
    second = await raw_upstream(answer("HTTP/1.1 200 OK\nContent-Length: 1\n\nb"))
    fast = UpstreamClient(max_connections=1, idle_timeout=30.0)
    try:
        assert (await get(pool_for(fast, first)))[2] == b"a"  # now idle, holding the slot
        assert (await asyncio.wait_for(get(pool_for(fast, second)), 5))[2] == b"b"
        await asyncio.wait_for(first.closed_by_peer.wait(), 5)
    finally:
        fast.close()


# --- through the gateway -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("HTTQ/1.1 200 OK\nContent-Length: 2\n\nok", 502),
        ("HTTP/1.1 200 OK\nContent-Length: 9\n\nshort", 502),
    ],
    ids=["garbage", "short-body"],
)
async def test_gateway_maps_broken_answers_to_502(
    make_stack: StackFactory, raw_upstream: Any, text: str, status: int
) -> None:
    upstream = await raw_upstream(answer(text, close=True))
    stack = await make_stack(backend_at(upstream))
    response = await stack.client.get("/api/alice/tasks", headers=bearer("alice"))
    assert response.status == status
    assert (await response.json())["error"] == "upstream_unavailable"


async def test_gateway_passes_close_delimited_and_chunked_answers(
    make_stack: StackFactory, raw_upstream: Any
) -> None:
    texts = {
        0: "HTTP/1.1 200 OK\nSet-Cookie: a=1\nSet-Cookie: b=2\nX-Gone: 1\nConnection: x-gone\n\n",
        1: "HTTP/1.1 201 Made\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n",
    }

    def script(_head: bytes, conn: int, _n: int) -> tuple[bytes | None, bool]:
        body = "closed" if conn == 0 else ""
        return (texts[min(conn, 1)] + body).replace("\n", "\r\n").encode(), conn == 0

    upstream = await raw_upstream(script)
    stack = await make_stack(backend_at(upstream))
    first = await stack.client.get("/api/alice/tasks", headers=bearer("alice"))
    assert (first.status, await first.read()) == (200, b"closed")
    assert first.headers.getall("Set-Cookie") == ["a=1", "b=2"]
    assert "X-Gone" not in first.headers
    second = await stack.client.get("/api/alice/tasks", headers=bearer("alice"))
    assert (second.status, second.reason, await second.read()) == (201, "Made", b"abc")
    assert b"x-user-id: alice" in upstream.heads[0].lower()


async def test_a_request_cancelled_as_a_connection_comes_back_is_just_cancelled(
    raw_upstream: Any,
) -> None:
    upstream = await raw_upstream(answer("HTTP/1.1 200 OK\nContent-Length: 2\n\nok"))
    fast = UpstreamClient(max_connections=1, idle_timeout=30.0)
    pool = pool_for(fast, upstream)
    try:
        first = await pool.request("GET", "/x", [])
        assert await first.read() == b"ok"
        waiting = asyncio.ensure_future(pool.request("GET", "/y", []))
        await asyncio.sleep(0.05)  # queued for the one connection
        waiting.cancel()
        first.release()  # in the same loop turn: the cancelled request is passed over
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert (await asyncio.wait_for(get(pool), 5))[2] == b"ok"
    finally:
        fast.close()
    assert upstream.connections == 1  # nobody wanted it: kept alive, not closed


async def test_a_connection_released_unread_reads_again_when_reused() -> None:
    """The answer's last bytes pushed it past the read-ahead limit (reading paused) and the
    gateway let it go unread (the client left): the next request must still get its answer."""
    body = b"x" * 263_000

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
        writer.write(body[:262_000])
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.write(body[262_000:])  # crosses the limit and ends the answer
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        connections.append(1)
        writer.close()

    connections: list[int] = []
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    fast = UpstreamClient(max_connections=1, idle_timeout=30.0)
    pool = pool_for(fast, Endpoint(server.sockets[0].getsockname()[1], None), read_timeout=2.0)
    try:
        first = await pool.request("GET", "/big", [])
        await asyncio.sleep(0.4)  # the whole answer arrives, unread
        first.release()
        assert (await asyncio.wait_for(get(pool), 5))[2] == b"ok"
    finally:
        fast.close()
        server.close()
    assert connections == [1]  # the same connection served both


async def test_releasing_an_answer_twice_pools_its_connection_once(raw_upstream: Any) -> None:
    upstream = await raw_upstream(answer("HTTP/1.1 200 OK\nContent-Length: 2\n\nok"))
    fast = UpstreamClient(max_connections=8, idle_timeout=30.0)
    pool = pool_for(fast, upstream)
    try:
        response = await pool.request("GET", "/x", [])
        assert await response.read() == b"ok"
        response.release()
        response.release()
        results = await asyncio.wait_for(asyncio.gather(get(pool), get(pool)), 5)
        assert [body for _, _, body in results] == [b"ok", b"ok"]
    finally:
        fast.close()
    assert upstream.connections == 2  # the pooled one, and a new one for the other request


async def test_an_answer_before_the_whole_body_ends_the_upload(
    client: UpstreamClient, raw_upstream: Any
) -> None:
    """An upstream refusing a large upload at once (413, say) is answered without waiting for
    the rest of the body, and that connection is not reused: its request was never finished."""
    upstream = await raw_upstream(
        answer("HTTP/1.1 413 Too Large\nContent-Length: 4\nConnection: keep-alive\n\nnope")
    )
    upstream.read_bodies = False

    async def endless() -> AsyncIterator[bytes]:
        while True:
            yield b"x" * 65536

    pool = pool_for(client, upstream)
    response = await asyncio.wait_for(
        pool.request("POST", "/upload", [], body=StreamedBody(endless(), None)), 10
    )
    try:
        assert (response.status, await response.read()) == (413, b"nope")
    finally:
        response.release()
    assert (await get(pool))[0] == 413
    assert upstream.connections == 2


async def test_bodies_are_framed_by_the_client(client: UpstreamClient, raw_upstream: Any) -> None:
    upstream = await raw_upstream(answer("HTTP/1.1 200 OK\nContent-Length: 2\n\nok"))
    pool = pool_for(client, upstream)

    async def parts() -> AsyncIterator[bytes]:
        yield b"abc"
        yield b""
        yield b"def"

    for body in (b"whole", StreamedBody(parts(), None), StreamedBody(parts(), 6)):
        response = await pool.request("PUT", "/x", [], body=body)
        response.release()
    assert upstream.bodies == [b"whole", b"abcdef", b"abcdef"]
    lengths = [b"content-length: 5", b"", b"content-length: 6"]
    for head, length in zip(upstream.heads, lengths, strict=True):
        assert head.lower().count(b"content-length") == (1 if length else 0)
        assert length in head.lower()
    assert b"transfer-encoding: chunked" in upstream.heads[1].lower()
