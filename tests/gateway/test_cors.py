"""CORS: preflights for configured origins answered without a token; others get no grant."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from tests.gateway.conftest import Stack, StackFactory, bearer

ALLOWED = "http://localhost:3000"


def preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }


async def test_preflight_from_allowed_origin_is_answered_without_token(stack: Stack) -> None:
    response = await stack.client.options("/api/alice/tasks", headers=preflight(ALLOWED))
    assert response.status == 204
    headers = response.headers
    assert headers["Access-Control-Allow-Origin"] == ALLOWED
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert "POST" in headers["Access-Control-Allow-Methods"]
    allowed = headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed
    assert "content-type" in allowed
    assert int(headers["Access-Control-Max-Age"]) > 0
    assert "Origin" in headers["Vary"]
    assert headers["X-Request-ID"]
    assert stack.recorder.seen == []


async def test_preflight_from_other_origin_gets_no_grant(stack: Stack) -> None:
    response = await stack.client.options(
        "/api/alice/tasks", headers=preflight("https://evil.example")
    )
    assert response.status in (401, 404)
    assert "Access-Control-Allow-Origin" not in response.headers
    assert stack.recorder.seen == []


async def test_actual_response_to_allowed_origin_carries_grant(stack: Stack) -> None:
    response = await stack.client.get(
        "/api/alice/tasks", headers={**bearer("alice"), "Origin": ALLOWED}
    )
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "X-Request-ID" in response.headers["Access-Control-Expose-Headers"]


async def test_errors_to_allowed_origin_carry_grant_too(stack: Stack) -> None:
    response = await stack.client.get("/api/alice/tasks", headers={"Origin": ALLOWED})
    assert response.status == 401
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED


async def test_other_origin_gets_no_grant_even_from_upstream(stack: Stack) -> None:
    response = await stack.client.get(
        "/api/auth/session", headers={"Origin": "https://evil.example"}
    )
    assert response.status == 200
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Credentials" not in response.headers


async def test_origins_come_from_the_environment(make_stack: StackFactory) -> None:
    stack = await make_stack(CORS_ALLOW_ORIGINS="https://app.example, https://admin.example")
    for origin in ("https://app.example", "https://admin.example"):
        response = await stack.client.options("/api/alice/tasks", headers=preflight(origin))
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == origin
    refused = await stack.client.options("/api/alice/tasks", headers=preflight(ALLOWED))
    assert "Access-Control-Allow-Origin" not in refused.headers


@pytest.mark.parametrize(
    ("path", "token", "status"),
    [
        ("/api/alice/tasks", True, 200),  # a small answer, read whole
        ("/api/alice/tasks/download?size=300000", True, 200),  # streamed back
        ("/api/alice/tasks", False, 401),
        ("/api/bob/tasks", True, 403),
        ("/nowhere", False, 404),
        ("/healthz", False, 200),
    ],
)
async def test_every_response_is_finished_the_same_way(
    stack: Stack, path: str, token: bool, status: int
) -> None:
    headers = {"Origin": ALLOWED, "X-Request-ID": "finish-1"}
    if token:
        headers.update(bearer("alice"))
    with capture_logs() as logs:
        response = await stack.client.get(path, headers=headers)
        await response.read()
    assert response.status == status
    assert response.headers["X-Request-ID"] == "finish-1"
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    [line] = [log for log in logs if log["event"] == "request"]
    assert (line["request_id"], line["status"]) == ("finish-1", status)
