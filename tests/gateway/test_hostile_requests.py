"""An outside attacker's requests, sent as raw bytes: each gets a clean 4xx or is made
harmless, and the upstream never sees a smuggled request, a spoofed identity or a path
other than the one the policy checked."""

from __future__ import annotations

import asyncio
import logging
import re
import traceback
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import structlog

from backend.app import SERVER_OPTIONS as BACKEND_SERVER_OPTIONS
from backend.app import create_app as create_backend
from backend.config import BackendSettings
from gateway.app import create_app
from gateway.config import ConfigError, load_settings
from gateway.serve import runner_options
from tests.gateway.conftest import (
    DEFAULT_YAML,
    IDENTITY_SECRET,
    Stack,
    bearer,
    default_config,
    gateway_env,
    make_token,
    settings_for,
)
from tests.gateway.signed_identity import signed_user

ALICE = bearer("alice")["Authorization"]
_STATUS_LINE = re.compile(rb"HTTP/\d\.\d (\d{3}) ")
SMUGGLED = "GET /api/alice/tasks/smuggled HTTP/1.1\r\nHost: x\r\n\r\n"


async def exchange(stack: Stack, data: bytes, *, wait: float = 5.0) -> bytes:
    """Write raw bytes, read until the gateway closes (or `wait` seconds of silence)."""
    assert stack.client.server.port is not None
    return await send_raw(stack.client.server.port, data, wait=wait)


async def send_raw(port: int, data: bytes, *, wait: float = 5.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        received = b""
        while True:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), wait)
            except TimeoutError:
                break
            if not chunk:
                break
            received += chunk
        return received
    finally:
        writer.close()


def statuses(received: bytes) -> list[int]:
    """The status of every response in a byte stream (pipelined answers included)."""
    return [int(code) for code in _STATUS_LINE.findall(received)]


def head(lines: list[str], body: str = "") -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode("utf-8")


def assert_nothing_smuggled(stack: Stack) -> None:
    for seen in stack.recorder.seen:
        assert "smuggled" not in seen.raw_path
    assert len(stack.recorder.seen) <= 1


SMUGGLING = {
    "cl_and_te": [
        "POST /api/alice/tasks HTTP/1.1",
        "Host: x",
        f"Authorization: {ALICE}",
        "Content-Length: 4",
        "Transfer-Encoding: chunked",
    ],
    "te_and_cl": [
        "POST /api/alice/tasks HTTP/1.1",
        "Host: x",
        f"Authorization: {ALICE}",
        "Transfer-Encoding: chunked",
        "Content-Length: 4",
    ],
    "duplicate_cl": [
        "POST /api/alice/tasks HTTP/1.1",
        "Host: x",
        f"Authorization: {ALICE}",
        "Content-Length: 4",
        "Content-Length: 60",
    ],
    "cl_list": [
        "POST /api/alice/tasks HTTP/1.1",
        "Host: x",
        f"Authorization: {ALICE}",
        "Content-Length: 4, 60",
    ],
    "te_not_chunked_last": [
        "POST /api/alice/tasks HTTP/1.1",
        "Host: x",
        f"Authorization: {ALICE}",
        "Transfer-Encoding: chunked, identity",
    ],
    "te_xchunked": [
        "POST /api/alice/tasks HTTP/1.1",
        "Host: x",
        f"Authorization: {ALICE}",
        "Transfer-Encoding: xchunked",
    ],
    "te_obs_fold": [
        "POST /api/alice/tasks HTTP/1.1",
        "Host: x",
        f"Authorization: {ALICE}",
        "Transfer-Encoding: identity",
        " chunked",
    ],
    "te_space_before_colon": [
        "POST /api/alice/tasks HTTP/1.1",
        "Host: x",
        f"Authorization: {ALICE}",
        "Transfer-Encoding : chunked",
    ],
    "cl_plus_sign": [
        "POST /api/alice/tasks HTTP/1.1",
        "Host: x",
        f"Authorization: {ALICE}",
        "Content-Length: +4",
    ],
}


@pytest.mark.parametrize("name", sorted(SMUGGLING))
async def test_ambiguous_framing_is_refused_and_nothing_is_smuggled(
    stack: Stack, name: str
) -> None:
    body = "0\r\n\r\n" + SMUGGLED
    received = await exchange(stack, head(SMUGGLING[name], body))
    codes = statuses(received)
    assert codes, received
    assert 400 <= codes[0] < 500, received
    assert len(codes) == 1, received
    assert stack.recorder.seen == []


async def test_chunk_extensions_are_not_a_second_request(stack: Stack) -> None:
    lines = [
        "POST /api/alice/tasks HTTP/1.1",
        "Host: x",
        f"Authorization: {ALICE}",
        "Transfer-Encoding: chunked",
        "Connection: close",
    ]
    body = "4;ext=1\r\nabcd\r\n0;x=y\r\n\r\n"
    received = await exchange(stack, head(lines, body))
    assert statuses(received) == [200]
    [seen] = stack.recorder.seen
    assert seen.body_bytes == 4
    assert_nothing_smuggled(stack)


async def test_a_pipelined_second_request_is_authorised_on_its_own(stack: Stack) -> None:
    lines = ["POST /api/alice/tasks HTTP/1.1", "Host: x", f"Authorization: {ALICE}"]
    first = head([*lines, "Content-Length: 4"], "abcd")
    second = head(["GET /api/bob/tasks HTTP/1.1", "Host: x", "Connection: close"])
    received = await exchange(stack, first + second)
    assert statuses(received) == [200, 401]
    assert [seen.raw_path for seen in stack.recorder.seen] == ["/api/alice/tasks"]
    assert stack.recorder.seen[0].body_bytes == 4


@pytest.mark.parametrize(
    "upgrade", ["websocket", "h2c", "anything"], ids=["websocket", "h2c", "other"]
)
async def test_upgrade_with_a_body_cannot_smuggle(stack: Stack, upgrade: str) -> None:
    lines = [
        "POST /api/alice/tasks HTTP/1.1",
        "Host: x",
        f"Authorization: {ALICE}",
        "Connection: Upgrade",
        f"Upgrade: {upgrade}",
        "Content-Length: 4",
    ]
    received = await exchange(stack, head(lines, "abcd" + SMUGGLED), wait=2.0)
    codes = statuses(received)
    assert codes, received
    assert codes[0] < 500, received
    assert_nothing_smuggled(stack)
    for seen in stack.recorder.seen:
        assert seen.body_bytes == 4
        assert "Upgrade" not in seen.headers


# --- CORS -------------------------------------------------------------------------------

GRANTS = ("Access-Control-Allow-Origin", "Access-Control-Allow-Credentials")


@pytest.mark.parametrize(
    "origins",
    ["*", "null", "http://localhost:3000, *", "localhost:3000", "file://", "http://a.example/app"],
)
def test_a_wildcard_or_null_origin_cannot_be_configured(origins: str) -> None:
    # Credentials are granted to every configured origin, so '*' or 'null' (sandboxed
    # iframes, file:// pages) would hand a user's session to any page.
    text = DEFAULT_YAML.read_text(encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(text, gateway_env(CORS_ALLOW_ORIGINS=origins))
    assert "cors.allow_origins" in str(caught.value)


async def test_upstream_grant_never_passes_without_an_origin(stack: Stack) -> None:
    # The recording upstream answers `Access-Control-Allow-Origin: *` with credentials; a
    # shared cache must not be able to store that grant and hand it to another origin.
    response = await stack.client.get("/api/auth/session")
    assert response.status == 200
    for name in GRANTS:
        assert name not in response.headers
    assert "Origin" in response.headers["Vary"]


@pytest.mark.parametrize(
    "origin",
    [
        "null",
        "http://localhost:3000.evil.com",
        "http://evil.localhost:3000",
        "http://localhost:30000",
        "https://localhost:3000",
        "HTTP://LOCALHOST:3000",
        "http://localhost:3000/",
        "http://localhost:3000 http://evil.com",
        "http://localhost:3000, http://evil.com",
        "*",
    ],
)
async def test_look_alike_origins_get_no_grant(stack: Stack, origin: str) -> None:
    preflight = await stack.client.options(
        "/api/alice/tasks",
        headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status == 404
    actual = await stack.client.get("/api/auth/session", headers={"Origin": origin})
    for response in (preflight, actual):
        for name in GRANTS:
            assert name not in response.headers
    assert stack.recorder.paths() == ["/api/auth/session"]


# --- methods and request-target forms ----------------------------------------------------


@pytest.mark.parametrize("method", ["TRACE", "TRACK", "CONNECT"])
async def test_echoing_or_tunnelling_methods_never_reach_a_public_upstream(
    stack: Stack, method: str
) -> None:
    # TRACE would echo the client's cookies back (cross-site tracing) from Better Auth.
    lines = [f"{method} /api/auth/session HTTP/1.1", "Host: x", "Cookie: s=1"]
    received = await exchange(stack, head([*lines, "Connection: close"]))
    assert statuses(received) in ([404], [400])
    assert stack.recorder.seen == []


@pytest.mark.parametrize(
    "request_line",
    [
        "GET http://evil/api/alice/tasks HTTP/1.1",
        "GET http://evil/api/bob/tasks HTTP/1.1",
        "GET //evil/api/alice/tasks HTTP/1.1",
        "CONNECT evil:443 HTTP/1.1",
        "OPTIONS * HTTP/1.1",
        "get /api/alice/tasks HTTP/1.1",
        "GET /api/alice/tasks HTTP/1.1 extra",
        "GET /api/alice/tasks HTTP/2.0",
        "GET /api/alice/tasks#/../../bob/tasks HTTP/1.1",
        "GET /api/alice/tasks%3F/../../bob/tasks HTTP/1.1",
        "GET /api/alice/tasks%3F/x HTTP/1.1",
        "GET /api/alice/tasks/..;/..;/bob/tasks HTTP/1.1",
        "GET /api/alice/tasks/%252e%252e/%252e%252e/bob/tasks HTTP/1.1",
        "GET /api/alice/tasks/./ HTTP/1.1",
        "GET /api/alice/tasks/.. HTTP/1.1",
        "GET /api/alice%5c..%5c..%5cbob/tasks HTTP/1.1",
        "GET /api/alice/tasks\t/../bob HTTP/1.1",
    ],
)
async def test_odd_request_targets_never_reach_bob(stack: Stack, request_line: str) -> None:
    lines = [request_line, "Host: x", f"Authorization: {ALICE}", "Connection: close"]
    received = await exchange(stack, head(lines))
    codes = statuses(received)
    assert codes, received
    assert codes[0] < 500, received
    for seen in stack.recorder.seen:
        assert seen.raw_path.startswith("/api/alice/tasks")
        assert "bob" not in seen.raw_path
        assert seen.headers["X-User-Id"] == "alice"


async def test_query_user_id_is_passed_but_signed_as_part_of_the_path(stack: Stack) -> None:
    response = await stack.client.get(
        "/api/alice/tasks?user_id=bob&user_id=carol", headers=bearer("alice")
    )
    assert response.status == 200
    [seen] = stack.recorder.seen
    assert seen.headers.getall("X-User-Id") == ["alice"]
    assert seen.raw_path == "/api/alice/tasks?user_id=bob&user_id=carol"


@pytest.mark.parametrize(
    "segment",
    [
        "%c0%ae%c0%ae",  # overlong UTF-8 for '..'
        "%C0%AE",
        "%e0%80%ae",  # 3-byte overlong '.'
        "%ff",  # not UTF-8 at all
        "%EF%BC%8E%EF%BC%8E",  # fullwidth '..'
        "%EF%BC%8E",  # fullwidth '.'
        "%E2%80%A5",  # two-dot leader, NFKC '..'
        "a%EF%BC%8Fb",  # fullwidth solidus inside a segment
        "a%EF%BC%BCb",  # fullwidth reverse solidus
    ],
)
async def test_disguised_dot_segments_and_separators_are_refused(
    stack: Stack, segment: str
) -> None:
    path = f"/api/alice/tasks/{segment}/{segment}/bob/tasks"
    lines = [f"GET {path} HTTP/1.1", "Host: x", f"Authorization: {ALICE}", "Connection: close"]
    received = await exchange(stack, head(lines))
    assert statuses(received) == [400], received
    assert b'"error":"bad_request"' in received
    assert stack.recorder.seen == []


async def test_legitimate_non_ascii_segments_still_pass(stack: Stack) -> None:
    response = await stack.client.get(
        "/api/alice/tasks/caf%C3%A9%EF%BC%8E%EF%BC%8Ex", headers=bearer("alice")
    )
    assert response.status == 200
    assert stack.recorder.paths() == ["/api/alice/tasks/caf%C3%A9%EF%BC%8E%EF%BC%8Ex"]


# --- identity headers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "X.User.Id",
        "X~User~Id",
        "X+User+Id",
        "x!user!id",
        "X-User.Id",
        "X_User-Id",
        "X.Gateway.Signature",
    ],
)
async def test_punctuation_spellings_of_identity_headers_are_stripped(
    stack: Stack, name: str
) -> None:
    # CGI-style servers (and many WSGI/PHP stacks) map every non-alphanumeric character of a
    # header name to '_', so `X.User.Id` reaches them as HTTP_X_USER_ID.
    lines = ["GET /api/auth/session HTTP/1.1", "Host: x", f"{name}: bob", "Connection: close"]
    received = await exchange(stack, head(lines))
    assert statuses(received) == [200]
    [seen] = stack.recorder.seen
    assert name not in seen.headers
    assert "bob" not in seen.headers.values()


@pytest.mark.parametrize(
    "line",
    [
        "X-User-Id : bob",  # space before the colon
        "X-User-Id\t: bob",
        " X-User-Id: bob",  # obs-fold continuation
        "X-Us\u0435r-Id: bob",  # Cyrillic e
        "X-User-\u0130d: bob",  # dotted capital I, lower-cases to 'i' + combining dot
        "X-User-Id\x00: bob",
    ],
)
async def test_malformed_identity_header_names_are_refused(stack: Stack, line: str) -> None:
    lines = ["GET /api/alice/tasks HTTP/1.1", "Host: x", f"Authorization: {ALICE}", line]
    received = await exchange(stack, head([*lines, "Connection: close"]))
    assert statuses(received) == [400]
    assert stack.recorder.seen == []


async def test_hop_by_hop_nomination_cannot_remove_the_signed_identity(stack: Stack) -> None:
    lines = [
        "GET /api/alice/tasks HTTP/1.1",
        "Host: x",
        f"Authorization: {ALICE}",
        "Connection: X-User-Id, X-Gateway-Signature, X-Gateway-Timestamp, X-Request-ID",
        "X-User-Id: bob",
        "Connection: close",
    ]
    received = await exchange(stack, head(lines))
    assert statuses(received) == [200]
    [seen] = stack.recorder.seen
    assert seen.headers.getall("X-User-Id") == ["alice"]
    assert len(seen.headers.getall("X-Gateway-Signature")) == 1
    assert len(seen.headers.getall("X-Gateway-Timestamp")) == 1
    assert len(seen.headers.getall("X-Request-ID")) == 1


async def test_connection_authorization_does_not_forward_the_token(stack: Stack) -> None:
    # Naming Authorization hop-by-hop must not flip the per-route "do not forward" rule.
    lines = [
        "GET /api/alice/tasks HTTP/1.1",
        "Host: x",
        f"Authorization: {ALICE}",
        "Connection: Authorization",
        "Connection: close",
    ]
    received = await exchange(stack, head(lines))
    assert statuses(received) == [200]
    [seen] = stack.recorder.seen
    assert "Authorization" not in seen.headers


async def test_every_connection_header_is_honoured(stack: Stack) -> None:
    lines = [
        "GET /api/auth/session HTTP/1.1",
        "Host: x",
        "Connection: keep-alive",
        "Connection: X-Hop-One, X-Hop-Two",
        "X-Hop-One: 1",
        "X-Hop-Two: 2",
        "X-Kept: 3",
        "Connection: close",
    ]
    received = await exchange(stack, head(lines))
    assert statuses(received) == [200]
    [seen] = stack.recorder.seen
    assert "X-Hop-One" not in seen.headers
    assert "X-Hop-Two" not in seen.headers
    assert seen.headers["X-Kept"] == "3"


# --- parser errors: no token in a log line ---------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "Authorization : Bearer {token}",  # space before the colon
        "Authorization\x01: Bearer {token}",
        " Authorization: Bearer {token}",  # obs-fold of the token line
    ],
)
async def test_a_malformed_authorization_line_is_never_logged(
    stack: Stack, caplog: pytest.LogCaptureFixture, line: str
) -> None:
    token = make_token("alice")
    lines = ["GET /api/alice/tasks HTTP/1.1", "Host: x", "X-A: b", line.format(token=token)]
    with caplog.at_level(logging.DEBUG), structlog.testing.capture_logs() as events:
        received = await exchange(stack, head([*lines, "Connection: close"]))
    assert statuses(received) == [400]
    assert stack.recorder.seen == []
    signature = token.rsplit(".", 1)[1]
    logged = [caplog.text, *(str(event) for event in events)]
    for record in caplog.records:
        logged.append(record.getMessage())
        if record.exc_info is not None:
            logged.append("".join(traceback.format_exception(*record.exc_info)))
    for text in logged:
        assert signature not in text
    assert [event["status"] for event in events if event.get("reason") == "malformed_request"] == [
        400
    ]


# --- Host and X-Forwarded-* -------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "a b, evil.example",
        "good.example, evil.example",
        "good.example/evil",
        "good.example@evil.example",
        "good.example:80:81",
        "good.example:port",
        'good.example"<x>',
    ],
)
async def test_a_malformed_host_is_refused_not_forwarded(stack: Stack, host: str) -> None:
    lines = ["GET /api/auth/session HTTP/1.1", f"Host: {host}", "Connection: close"]
    received = await exchange(stack, head(lines))
    assert statuses(received) == [400], received
    assert stack.recorder.seen == []


@pytest.mark.parametrize(
    "host", ["todo.example", "todo.example:8080", "127.0.0.1:8080", "[::1]:8080", "gateway_1"]
)
async def test_a_plain_host_becomes_x_forwarded_host(stack: Stack, host: str) -> None:
    lines = ["GET /api/auth/session HTTP/1.1", f"Host: {host}", "Connection: close"]
    received = await exchange(stack, head(lines))
    assert statuses(received) == [200]
    [seen] = stack.recorder.seen
    assert seen.headers.getall("X-Forwarded-Host") == [host]


async def test_http_1_0_without_host_is_still_served(stack: Stack) -> None:
    received = await exchange(stack, head(["GET /api/auth/session HTTP/1.0"]))
    assert statuses(received) == [200]
    [seen] = stack.recorder.seen
    assert "X-Forwarded-Host" not in seen.headers


async def test_spoofed_forwarding_headers_from_an_untrusted_peer_are_replaced(
    stack: Stack,
) -> None:
    lines = [
        "GET /api/alice/tasks HTTP/1.1",
        "Host: todo.example",
        f"Authorization: {ALICE}",
        "X-Forwarded-For: 10.0.0.1",
        "X-Forwarded-For: 10.0.0.2",
        "X_Forwarded_For: 10.0.0.3",
        "X-Forwarded-Host: admin.internal",
        "X-Forwarded-Proto: https",
        "Forwarded: for=10.0.0.1;host=admin.internal",
        "Connection: close",
    ]
    received = await exchange(stack, head(lines))
    assert statuses(received) == [200]
    [seen] = stack.recorder.seen
    assert seen.headers.getall("X-Forwarded-For") == ["127.0.0.1"]
    assert seen.headers.getall("X-Forwarded-Host") == ["todo.example"]
    assert seen.headers.getall("X-Forwarded-Proto") == ["http"]
    assert "Forwarded" not in seen.headers
    assert "10.0.0.3" not in seen.headers.values()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X_Forwarded_For", "10.0.0.3"),
        ("X_Real_IP", "10.0.0.3"),
        ("X_Forwarded_Host", "admin.internal"),
        ("Transfer_Encoding", "chunked"),
        ("Content_Length", "9999"),
        ("Proxy_Authorization", "Basic eA=="),
        ("X.Forwarded.For", "10.0.0.3"),
    ],
)
async def test_folded_spellings_of_framing_and_forwarding_headers_are_dropped(
    stack: Stack, name: str, value: str
) -> None:
    # A backend that folds '_' (or '.') into '-' would read these as the real header:
    # a spoofed client address, or a second framing header (request smuggling).
    lines = ["POST /api/auth/session HTTP/1.1", "Host: x", f"{name}: {value}"]
    received = await exchange(
        stack, head([*lines, "Content-Length: 4", "Connection: close"], "abcd")
    )
    assert statuses(received) == [200]
    [seen] = stack.recorder.seen
    assert name not in seen.headers
    assert value not in seen.headers.values()
    assert seen.body_bytes == 4


# --- user ids that are dangerous in a path or header -----------------------------------

HOSTILE_SUBS = [
    "bob/../alice",
    "../bob",
    "alice/",
    "alice%2Fbob",
    "alice%2fbob",
    "..",
    ".",
    "alice;bob",
    "alice?x=bob",
    "alice#bob",
    "alice\\bob",
    "alice\r\nX-User-Id: bob",
    "alice\nbob",
    " alice",
    "alice ",
    "\u0430lice",  # Cyrillic a
    "ALICE",
    "a" * 300,
    "alice\x00",
]


def sub_paths(sub: str) -> list[str]:
    escaped = "".join(
        char if char.isascii() and (char.isalnum() or char in "-._~") else f"%{ord(char):02X}"
        for char in sub
    )
    return [f"/api/{sub}/tasks", f"/api/{escaped}/tasks", "/api/alice/tasks", "/api/bob/tasks"]


@pytest.mark.parametrize("sub", HOSTILE_SUBS)
async def test_a_hostile_subject_only_ever_reaches_its_own_exact_path(
    stack: Stack, sub: str
) -> None:
    token = make_token(sub)
    for path in sub_paths(sub):
        lines = [f"GET {path} HTTP/1.1", "Host: x", f"Authorization: Bearer {token}"]
        received = await exchange(stack, head([*lines, "Connection: close"]))
        codes = statuses(received)
        assert codes, received
        assert codes[0] in (200, 400, 401, 403, 404), received
    for seen in stack.recorder.seen:
        assert seen.headers.getall("X-User-Id") == [sub]
        assert unquote(seen.raw_path.split("/")[2]) == sub


# --- oversize input, and the token never echoed ------------------------------------------


@pytest.mark.parametrize(
    ("what", "lines"),
    [
        ("request line", [f"GET /api/alice/tasks/{'a' * 20000} HTTP/1.1", "Host: x"]),
        ("header value", ["GET /api/alice/tasks HTTP/1.1", "Host: x", f"X-Big: {'a' * 70000}"]),
        ("header name", ["GET /api/alice/tasks HTTP/1.1", "Host: x", f"X{'a' * 70000}: 1"]),
        (
            "many headers",
            ["GET /api/alice/tasks HTTP/1.1", "Host: x"] + [f"X-H{i}: 1" for i in range(200)],
        ),
    ],
)
async def test_oversize_heads_are_a_clean_4xx(stack: Stack, what: str, lines: list[str]) -> None:
    received = await exchange(stack, head([*lines, f"Authorization: {ALICE}", "Connection: close"]))
    codes = statuses(received)
    assert codes, what
    assert 400 <= codes[0] < 500, received[:200]
    assert stack.recorder.seen == []


async def test_a_long_path_within_limits_gets_json(stack: Stack) -> None:
    path = "/api/alice/tasks/" + "a" * 6000
    response = await stack.client.get(path, headers=bearer("alice"))
    assert response.status == 200
    too_long_for_a_route = await stack.client.get("/x" * 6000, headers=bearer("alice"))
    assert too_long_for_a_route.status == 404
    assert (await too_long_for_a_route.json())["error"] == "not_found"


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer {token}x",  # bad signature
        "Bearer {token}.extra",  # malformed
        "bearer {token}",  # wrong user for the path below
        "Basic {token}",
        'Bearer {token}"',
    ],
)
async def test_refusals_never_echo_or_log_the_token(stack: Stack, authorization: str) -> None:
    token = make_token("carol")
    with structlog.testing.capture_logs() as events:
        response = await stack.client.get(
            "/api/alice/tasks?access_token=" + token,
            headers={"Authorization": authorization.format(token=token)},
        )
        body = await response.text()
    assert response.status in (400, 401, 403)
    signature = token.rsplit(".", 1)[1]
    assert signature not in body
    assert signature not in str(dict(response.headers))
    assert signature not in str(events)
    assert stack.recorder.seen == []


# --- bodies that try to become requests -------------------------------------------------


async def test_chunked_trailers_never_become_headers_upstream(stack: Stack) -> None:
    lines = [
        "POST /api/alice/tasks HTTP/1.1",
        "Host: x",
        f"Authorization: {ALICE}",
        "Transfer-Encoding: chunked",
        "Trailer: X-User-Id",
        "Connection: close",
    ]
    body = "4\r\nabcd\r\n0\r\nX-User-Id: bob\r\nX-Gateway-Signature: v1=00\r\n\r\n"
    received = await exchange(stack, head(lines, body))
    assert statuses(received) == [200]
    [seen] = stack.recorder.seen
    assert seen.headers.getall("X-User-Id") == ["alice"]
    assert "bob" not in seen.headers.values()
    assert "Trailer" not in seen.headers


@pytest.mark.parametrize("refused_by", ["no token", "too large"])
async def test_an_unread_body_is_never_parsed_as_a_request(stack: Stack, refused_by: str) -> None:
    inner = "GET /api/auth/smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    auth = [f"Authorization: {ALICE}"] if refused_by == "too large" else []
    length = 2 * 1024 * 1024 if refused_by == "too large" else len(inner)
    lines = ["POST /api/alice/tasks HTTP/1.1", "Host: x", *auth, f"Content-Length: {length}"]
    received = await exchange(stack, head(lines, inner), wait=2.0)
    assert statuses(received)[:1] == ([413] if auth else [401])
    assert 200 not in statuses(received)
    assert_nothing_smuggled(stack)
    assert stack.recorder.seen == []


async def test_a_client_that_hangs_up_mid_body_cannot_desync_the_upstream_pool(
    stack: Stack,
) -> None:
    assert stack.client.server.port is not None
    for _ in range(3):
        _, writer = await asyncio.open_connection("127.0.0.1", stack.client.server.port)
        lines = ["POST /api/alice/tasks HTTP/1.1", "Host: x", f"Authorization: {ALICE}"]
        # Announce 200,000 bytes, send 70,000 (more than is read whole before forwarding, so
        # the upstream starts on it), of which the rest would be a second request upstream.
        writer.write(head([*lines, "Content-Length: 200000"], "0123456789" * 7000))
        await writer.drain()
        await stack.recorder.wait_started("POST /api/alice/tasks")
        writer.close()
        stack.recorder.started.clear()
    for _ in range(3):
        response = await stack.client.get("/api/alice/tasks/after", headers=bearer("alice"))
        assert response.status == 200
        assert (await response.json())["path"] == "/api/alice/tasks/after"
    for seen in stack.recorder.seen:
        assert seen.raw_path in ("/api/alice/tasks", "/api/alice/tasks/after")
        assert seen.raw_path == "/api/alice/tasks/after" or seen.body_bytes < 200000


# --- the signed target is the target the upstream reads ------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "/api/alice/tasks?a=[x]|{y}^`z`",
        "/api/alice/tasks?a=%zz&b=%",
        "/api/alice/tasks?a=%2e%2e%2F&b=..%2F..",
        "/api/alice/tasks?a='\"<>",
        "/api/alice/tasks?a=b?c=d&&=",
        "/api/alice/tasks/%7e%41%3a%40!$&'()*+,=:@",
        "/api/alice/tasks/caf%c3%a9",
        "/api/%61lice/tasks?user_id=bob",
    ],
)
async def test_the_upstream_verifies_exactly_what_it_receives(stack: Stack, target: str) -> None:
    lines = [f"GET {target} HTTP/1.1", "Host: x", f"Authorization: {ALICE}", "Connection: close"]
    received = await exchange(stack, head(lines))
    assert statuses(received) == [200], received
    [seen] = stack.recorder.seen
    user = signed_user(IDENTITY_SECRET, seen.headers, method=seen.method, path_qs=seen.raw_path)
    assert user == "alice"


@pytest.mark.parametrize(
    "raw_head",
    [
        b"GET /api/auth/session HTTP/1.1\r\nHost: x\r\nX-A: a\rX-User-Id: bob\r\n\r\n",
        b"GET /api/auth/session HTTP/1.1\r\nHost: x\r\nX-A: a\nX-User-Id: bob\r\n\r\n",
        b"GET /api/auth/session HTTP/1.1\nHost: x\nX-A: a\nX_User_Id: bob\n\n",
        b"GET /api/auth/session HTTP/1.1\r\nHost: x\r\nX-A: a\x00X-User-Id: bob\r\n\r\n",
        b"GET /api/auth/session HTTP/1.1\r\nHost: x\r\nX-A: a\x0bb\r\n\r\n",
        b"GET /api/auth/session HTTP/1.1\r\nHost: x\r\nX-A: \xff\xfe\r\n\r\n",
    ],
    ids=["bare-cr", "bare-lf", "lf-only", "nul", "vt", "high-bytes"],
)
async def test_line_break_tricks_inside_headers_never_inject_upstream(
    stack: Stack, raw_head: bytes
) -> None:
    received = await exchange(stack, raw_head, wait=2.0)
    codes = statuses(received)
    assert codes, received
    assert codes[0] < 500, received
    for seen in stack.recorder.seen:
        assert "X-User-Id" not in seen.headers
        for value in seen.headers.values():
            assert "\r" not in value
            assert "\n" not in value
            assert "\x00" not in value


@pytest.mark.parametrize(
    "body",
    [
        "ffffffffffffffffffff\r\nabcd\r\n0\r\n\r\n",  # chunk size overflow
        "-4\r\nabcd\r\n0\r\n\r\n",
        " 4\r\nabcd\r\n0\r\n\r\n",
        "4 \r\nabcd\r\n0\r\n\r\n",
        "0x4\r\nabcd\r\n0\r\n\r\n",
        "4\r\nabcdEXTRA\r\n0\r\n\r\n",  # chunk longer than its size
        "4\nabcd\n0\n\n",  # bare LF chunk framing
    ],
    ids=["overflow", "negative", "leading-space", "trailing-space", "hex-prefix", "long", "lf"],
)
async def test_malformed_chunk_framing_never_reaches_the_upstream_whole(
    stack: Stack, body: str
) -> None:
    lines = [
        "POST /api/alice/tasks HTTP/1.1",
        "Host: x",
        f"Authorization: {ALICE}",
        "Transfer-Encoding: chunked",
    ]
    received = await exchange(stack, head(lines, body + SMUGGLED), wait=2.0)
    codes = statuses(received)
    assert codes, received
    assert codes[0] < 500 or codes[0] == 502, received
    assert 200 not in codes[1:], received
    assert_nothing_smuggled(stack)
    assert all(seen.body_bytes == 4 for seen in stack.recorder.seen)


async def test_http_0_9_and_garbage_get_a_clean_4xx(stack: Stack) -> None:
    for data in (b"GET /api/alice/tasks\r\n\r\n", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"):
        received = await exchange(stack, data, wait=2.0)
        assert all(400 <= code < 500 for code in statuses(received)), received
    assert stack.recorder.seen == []


@pytest.mark.parametrize("name", ["X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"])
async def test_method_override_headers_never_reach_the_backend(stack: Stack, name: str) -> None:
    # The tasks route allows GET and POST; a backend honouring an override would DELETE.
    response = await stack.client.post(
        "/api/alice/tasks", headers={**bearer("alice"), name: "DELETE"}, data=b"{}"
    )
    assert response.status == 200
    [seen] = stack.recorder.seen
    assert seen.method == "POST"
    assert name not in seen.headers
    assert "DELETE" not in seen.headers.values()


@pytest.mark.parametrize(
    "name",
    [
        "X-Original-URL",
        "X-Rewrite-URL",
        "X-Original-URI",
        "X-Forwarded-URI",
        "X-Envoy-Original-Path",
    ],
)
async def test_url_override_headers_never_reach_the_backend(stack: Stack, name: str) -> None:
    # The policy authorised and the gateway signed /api/alice/tasks; a backend honouring an
    # override would serve Bob's tasks instead.
    response = await stack.client.get(
        "/api/alice/tasks", headers={**bearer("alice"), name: "/api/bob/tasks"}
    )
    assert response.status == 200
    [seen] = stack.recorder.seen
    assert seen.raw_path == "/api/alice/tasks"
    assert name not in seen.headers
    assert "/api/bob/tasks" not in seen.headers.values()


async def test_httpoxy_proxy_header_is_dropped(stack: Stack) -> None:
    # CGI maps 'Proxy' to HTTP_PROXY, which HTTP client libraries then use for outgoing calls.
    response = await stack.client.get(
        "/api/auth/session", headers={"Proxy": "http://evil.example:8080"}
    )
    assert response.status == 200
    [seen] = stack.recorder.seen
    assert "Proxy" not in seen.headers


async def test_options_without_a_preflight_is_routed_like_any_method(stack: Stack) -> None:
    # An allowed Origin without Access-Control-Request-Method is not a preflight: no shortcut.
    headers = {**bearer("alice"), "Origin": "http://localhost:3000"}
    response = await stack.client.options("/api/alice/tasks", headers=headers)
    assert response.status == 404
    assert stack.recorder.seen == []
    public = await stack.client.options("/api/auth/session", headers=headers)
    assert public.status == 200
    assert stack.recorder.paths() == ["/api/auth/session"]


# --- through the real backend: the path the gateway checked is the path the backend reads --


@pytest.fixture
async def real_stack(tmp_path: Path, aiohttp_server: Any, aiohttp_client: Any) -> Any:
    backend_settings = BackendSettings(
        identity_secrets=(IDENTITY_SECRET.encode(),),
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'todo.db'}",
    )
    backend = await aiohttp_server(create_backend(backend_settings), **BACKEND_SERVER_OPTIONS)
    backend_url = str(backend.make_url("")).rstrip("/")
    config = default_config()
    config["auth"]["jwks"] = []
    settings = settings_for(config, gateway_env(BACKEND_URL=backend_url))
    gateway = await aiohttp_server(create_app(settings), **runner_options(settings))
    return await aiohttp_client(gateway)


@pytest.mark.parametrize(
    "target",
    [
        "/api/%61lice/tasks",
        "/api/alice/tasks?status=all&x=[y]|{z}",
        "/api/alice/tasks?user_id=bob&status=pending",
        "/api/alice/tasks?sort=title&limit=%31",
        "/api/alice/tasks/1",
        "/api/alice/tasks/%31",
        "/api/alice/tasks/1?x=%zz",
        "/api/alice/tasks/1/complete",
        "/api/alice/tasks/1/%63omplete",
    ],
)
async def test_the_real_backend_accepts_every_target_the_gateway_forwards(
    real_stack: Any, target: str
) -> None:
    alice = bearer("alice")
    created = await real_stack.post("/api/alice/tasks", headers=alice, json={"title": "mine"})
    assert created.status == 201
    await real_stack.post("/api/bob/tasks", headers=bearer("bob"), json={"title": "secret"})
    method = "PATCH" if "omplete" in target else "GET"
    lines = [f"{method} {target} HTTP/1.1", "Host: x", f"Authorization: {ALICE}"]
    assert real_stack.server.port is not None
    received = await send_raw(real_stack.server.port, head([*lines, "Connection: close"]))
    # A 401 here would be the backend reading another target than the gateway signed.
    assert statuses(received) == [200], received
    assert b"secret" not in received
    assert b'"user_id":"alice"' in received or received.rstrip().endswith(b"[]")
