"""Requests aiohttp's parser refuses, sent as raw bytes to both real services: each gets the
contract's JSON error with a request id, never the offending bytes, never a Server banner
naming Python or aiohttp. And a request at the gateway's parser limits passes both."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.integration.client import user
from tests.integration.keys import SecretIssuer
from tests.integration.processes import Stack

MARK = "zq7MARKzq"  # in every hostile request; must never come back
HOSTILE = {
    "lower-case method": f"get /healthz?{MARK} HTTP/1.1\r\nHost: x\r\n\r\n",
    "unknown method": f"FOO{MARK} /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    "bad version": f"GET /healthz?{MARK} HTTP/1.7\r\nHost: x\r\n\r\n",
    # aiohttp's parser lets these two through; the services refuse them.
    "HTTP/2.0": f"GET /healthz?{MARK} HTTP/2.0\r\nHost: x\r\n\r\n",
    "HTTP/0.9": f"GET /healthz?{MARK} HTTP/0.9\r\nHost: x\r\n\r\n",
    "HTTP/2.0 protected": f"GET /api/alice/tasks?{MARK} HTTP/2.0\r\nHost: x\r\n\r\n",
    "NUL in target": f"GET /health\x00{MARK} HTTP/1.1\r\nHost: x\r\n\r\n",
    "space before colon": f"GET /healthz HTTP/1.1\r\nHost: x\r\nX-{MARK} : y\r\n\r\n",
    "obs-fold": f"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: b\r\n {MARK}\r\n\r\n",
    "Content-Length and Transfer-Encoding": (
        f"POST /healthz HTTP/1.1\r\nHost: x\r\nX-M: {MARK}\r\nContent-Length: 5\r\n"
        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    ),
    "two Host": f"GET /healthz HTTP/1.1\r\nHost: a{MARK}\r\nHost: b\r\n\r\n",
    "too many headers": "GET /healthz HTTP/1.1\r\nHost: x\r\n"
    + "".join(f"X-{MARK}-{i}: y\r\n" for i in range(300))
    + "\r\n",
    "over-long request line": f"GET /healthz?{MARK}{'a' * 70000} HTTP/1.1\r\nHost: x\r\n\r\n",
    "over-long header": f"GET /healthz HTTP/1.1\r\nHost: x\r\nX-{MARK}: {'a' * 140000}\r\n\r\n",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir: Path = tmp_path_factory.mktemp("parser")
    issuer = SecretIssuer()
    stack = Stack(workdir, database_url=f"sqlite:///{workdir / 'todo.db'}", auth_env=issuer.env)
    stack.issuer = issuer  # type: ignore[attr-defined]
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def exchange(url: str, data: bytes) -> bytes:
    """Send the bytes, read until the server closes (it must, after an error)."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as connection:
        connection.sendall(data)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    return received


def parse(received: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize("service", ["gateway", "backend"])
@pytest.mark.parametrize("request_text", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_refused_request_gets_the_contract_json(
    stack: Stack, service: str, request_text: str
) -> None:
    url = stack.gateway_url if service == "gateway" else stack.backend_url
    received = exchange(url, request_text.encode("latin-1"))
    status, headers, body = parse(received)
    assert 400 <= status < 500, received[:300]
    assert headers["content-type"].startswith("application/json")
    answer = json.loads(body)
    assert set(answer) == {"error", "message", "request_id"}
    assert answer["error"] == "bad_request"
    assert headers["x-request-id"] == answer["request_id"]
    assert headers["server"] == service
    assert MARK.encode() not in received


@pytest.mark.parametrize("service", ["gateway", "backend"])
@pytest.mark.parametrize(("version", "status"), [("2.0", 400), ("0.9", 400), ("1.0", 200)])
def test_only_http_1_0_and_1_1_are_served(
    stack: Stack, service: str, version: str, status: int
) -> None:
    url = stack.gateway_url if service == "gateway" else stack.backend_url
    received = exchange(url, f"GET /healthz HTTP/{version}\r\nHost: x\r\n\r\n".encode())
    got, _, body = parse(received)
    assert got == status, received[:300]
    if status == 400:
        assert json.loads(body)["message"] == "unsupported HTTP version"


@pytest.mark.parametrize("service", ["gateway", "backend"])
def test_no_response_names_python_or_aiohttp(stack: Stack, service: str) -> None:
    url = stack.gateway_url if service == "gateway" else stack.backend_url
    for path in ("/healthz", "/nothing-here"):
        received = exchange(
            url, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
        )
        _, headers, _ = parse(received)
        assert headers["server"] == service


def test_a_request_at_the_gateways_limits_reaches_the_backend(stack: Stack) -> None:
    """The backend parses with room for what the gateway adds: a header the gateway accepts
    never earns a parser refusal from the backend."""
    alice = user("alice")
    token = stack.issuer.token(alice)  # type: ignore[attr-defined]
    fixed = ["Host: x", f"Authorization: Bearer {token}", "Connection: close"]
    # The gateway's default limits: 128 headers, 65536 bytes per header line.
    filler = [f"X-Filler-{i}: y" for i in range(128 - len(fixed) - 1)]
    long_line = "X-Long: " + "a" * (65536 - len("X-Long: ") - 2)
    lines = [f"GET /api/{alice}/tasks HTTP/1.1", *fixed, *filler, long_line]
    received = exchange(stack.gateway_url, ("\r\n".join(lines) + "\r\n\r\n").encode())
    status, _, body = parse(received)
    assert status == 200, received[:300]
    assert json.loads(body) == []
