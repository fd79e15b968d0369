"""The plain request-context middleware (the backend's): request ids, JSON errors, the access
line."""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway import request_context as gateway_context
from service_plumbing import request_context as plain_context
from service_plumbing.errors import ApiError
from service_plumbing.request_context import RequestIds, request_context_middleware

ClientFactory = Any


async def explode(request: web.Request) -> web.Response:
    raise RuntimeError("password=hunter2 in a message that must stay private")


async def refuse(request: web.Request) -> web.Response:
    raise ApiError(422, "title: must not be empty", reason="validation")


async def fine(request: web.Request) -> web.Response:
    return web.Response(text="ok")


@pytest.fixture
async def client(aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    app = web.Application(middlewares=[request_context_middleware(service="test")])
    app.router.add_get("/explode", explode)
    app.router.add_get("/refuse", refuse)
    app.router.add_get("/fine", fine)
    result: TestClient[Any, Any] = await aiohttp_client(app)
    return result


async def test_a_well_formed_request_id_is_kept(client: TestClient[Any, Any]) -> None:
    response = await client.get("/fine", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"


@pytest.mark.parametrize("bad", ["", "x" * 129, "has space", 'quote"', "é"])
async def test_a_malformed_request_id_is_replaced(client: TestClient[Any, Any], bad: str) -> None:
    response = await client.get("/fine", headers={"X-Request-ID": bad})
    assert response.headers["X-Request-ID"] not in ("", bad)
    assert len(response.headers["X-Request-ID"]) == 32


async def test_an_api_error_is_the_contract_json(client: TestClient[Any, Any]) -> None:
    response = await client.get("/refuse", headers={"X-Request-ID": "r-1"})
    assert response.status == 422
    assert await response.json() == {
        "error": "validation_error",
        "message": "title: must not be empty",
        "request_id": "r-1",
    }


async def test_an_unknown_route_is_json_404(client: TestClient[Any, Any]) -> None:
    response = await client.get("/nowhere")
    body = await response.json()
    assert (response.status, body["error"]) == (404, "not_found")
    assert body["request_id"] == response.headers["X-Request-ID"]


async def test_a_crash_is_a_bare_500_and_its_log_line_has_no_trace_or_message(
    client: TestClient[Any, Any], logs: list[dict[str, Any]]
) -> None:
    response = await client.get("/explode")
    assert response.status == 500
    body = await response.json()
    assert body["error"] == "internal_error"
    assert "hunter2" not in str(body)
    crash = next(line for line in logs if line["event"] == "unhandled_error")
    assert crash["error_type"] == "RuntimeError"
    assert "test_request_context.py:" in crash["where"]
    assert "hunter2" not in repr(logs)
    assert not any("exc_info" in line or "exception" in line for line in logs)


async def test_one_access_line_per_request(
    client: TestClient[Any, Any], logs: list[dict[str, Any]]
) -> None:
    await client.get("/fine", headers={"X-Request-ID": "r-2"})
    access = [line for line in logs if line["event"] == "request"]
    assert len(access) == 1
    assert access[0]["request_id"] == "r-2"
    assert (access[0]["method"], access[0]["path"], access[0]["status"]) == ("GET", "/fine", 200)
    assert access[0]["duration_ms"] >= 0


def test_new_request_ids_are_32_hex_digits_and_never_repeat() -> None:
    ids = RequestIds()
    drawn = [ids.for_request(None) for _ in range(1000)]  # past several batches
    assert all(len(new) == 32 and int(new, 16) >= 0 for new in drawn)
    assert len(set(drawn)) == len(drawn)
    assert RequestIds().for_request(None) not in drawn  # another process starts elsewhere


@pytest.mark.parametrize("ms_since", [plain_context.ms_since, gateway_context.ms_since])
def test_durations_are_milliseconds_to_the_microsecond(ms_since: Any) -> None:
    elapsed = ms_since(time.perf_counter() - 0.0123456)
    assert 12.345 <= elapsed < 1000
    assert elapsed == round(elapsed, 3)
