"""The backend reached directly, by someone holding one captured signed request: every replay
onto another method, path, query or spelling is refused, and unsigned paths that look like
`/healthz` never reach a handler that needs an identity."""

from __future__ import annotations

import asyncio

import pytest
from multidict import CIMultiDict

from backend.identity import REQUEST_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER
from tests.backend.conftest import Api, identity_headers
from tests.backend.test_tasks import error_of

LIST = "/api/alice/tasks"


async def raw(api: Api, request: str) -> bytes:
    """Send a request exactly as written (no client-side normalisation); the whole answer."""
    port = api.client.server.port
    assert port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request.replace("\n", "\r\n").encode("latin-1"))
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def signed_lines(method: str, path: str, user: str = "alice") -> str:
    headers = identity_headers(method, path, user)
    return "".join(f"{name}: {value}\n" for name, value in headers.items())


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("GET", "/api/alice/tasks/"),
        ("GET", "/api/%61lice/tasks"),
        ("GET", "/api/alice/./tasks"),
        ("GET", "/api/alice/tasks?status=completed"),
        ("GET", "/api/alice/tasks?limit=1"),
        ("GET", "/API/alice/tasks"),
        ("GET", "//api/alice/tasks"),
        ("HEAD", LIST),
        ("POST", LIST),
        ("DELETE", "/api/alice/tasks/1"),
        ("GET", "/api/bob/tasks"),
    ],
)
async def test_a_captured_signature_is_refused_on_any_other_request(
    sqlite_api: Api, method: str, target: str
) -> None:
    await sqlite_api.create(title="alice's")
    captured = signed_lines("GET", LIST)
    answer = await raw(
        sqlite_api,
        f"{method} {target} HTTP/1.1\nHost: b\n{captured}Content-Length: 0\nConnection: close\n\n",
    )
    assert status_of(answer) == 401, answer
    assert method == "HEAD" or b'"unauthorized"' in answer


async def test_the_captured_request_itself_is_what_the_signature_allows(sqlite_api: Api) -> None:
    captured = signed_lines("GET", LIST)
    answer = await raw(sqlite_api, f"GET {LIST} HTTP/1.1\nHost: b\n{captured}Connection: close\n\n")
    assert status_of(answer) == 200


@pytest.mark.parametrize(
    "name", [SIGNATURE_HEADER, TIMESTAMP_HEADER, REQUEST_ID_HEADER, "x-user-id"]
)
async def test_a_duplicated_signed_header_is_refused(sqlite_api: Api, name: str) -> None:
    headers = CIMultiDict(identity_headers("GET", LIST, "alice"))
    again = f"{name}: {headers[name]}\n"  # the same value twice: still ambiguous, still refused
    captured = "".join(f"{key}: {value}\n" for key, value in headers.items())
    answer = await raw(
        sqlite_api, f"GET {LIST} HTTP/1.1\nHost: b\n{captured}{again}Connection: close\n\n"
    )
    assert status_of(answer) == 401, answer


async def test_a_folded_spelling_of_x_user_id_is_ignored(sqlite_api: Api) -> None:
    await sqlite_api.create(user="bob", title="bob's")
    headers = identity_headers("GET", LIST, "alice") | {"X_User_Id": "bob"}
    response = await sqlite_api.call("GET", LIST, headers=headers, signed=False)
    assert response.status == 200
    assert await response.json() == []


@pytest.mark.parametrize(
    "value",
    ["v1=" + "0" * 63, "v1=" + "0" * 65, "V1=" + "0" * 64, "v2=" + "0" * 64, " v1=" + "0" * 64],
)
async def test_malformed_signatures_are_refused_without_echo(sqlite_api: Api, value: str) -> None:
    headers = identity_headers("GET", LIST, "alice") | {SIGNATURE_HEADER: value}
    response = await sqlite_api.call("GET", LIST, headers=headers, signed=False)
    await error_of(response, 401, "unauthorized")
    assert value.strip() not in await response.text()


@pytest.mark.parametrize("value", ["+1795488098", "\u0661\u0662\u0663", "1795488098.5", "-1"])
async def test_odd_timestamps_are_refused(sqlite_api: Api, value: str) -> None:
    headers = identity_headers("GET", LIST, "alice") | {TIMESTAMP_HEADER: value}
    response = await sqlite_api.call("GET", LIST, headers=headers, signed=False)
    await error_of(response, 401, "unauthorized")


@pytest.mark.parametrize(
    "target",
    [
        "/healthz/../api/alice/tasks",
        "/healthz/%2e%2e/api/alice/tasks",
        "/healthz%2F..%2Fapi/alice/tasks",
        "/readyz/../api/alice/tasks",
        "/readyz%2F..%2Fapi/alice/tasks",
        "/api/alice/tasks?/healthz",
        "/api/alice/tasks#/healthz",
        "http://b/api/alice/tasks",
    ],
)
async def test_healthz_look_alikes_need_a_signature(sqlite_api: Api, target: str) -> None:
    await sqlite_api.create(title="alice's")
    answer = await raw(sqlite_api, f"GET {target} HTTP/1.1\nHost: b\nConnection: close\n\n")
    assert status_of(answer) in (400, 401, 404), answer
    assert b"alice's" not in answer
