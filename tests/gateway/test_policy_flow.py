"""Every policy outcome through the real app factory and a real upstream."""

from __future__ import annotations

from typing import Any

from tests.gateway.conftest import IDENTITY_SECRET, Stack, StackFactory, bearer, make_token
from tests.gateway.signed_identity import signed_user


async def test_owner_reaches_backend_with_signed_identity(stack: Stack) -> None:
    response = await stack.client.get("/api/alice/tasks?status=all", headers=bearer("alice"))
    assert response.status == 200
    [seen] = stack.recorder.seen
    assert seen.raw_path == "/api/alice/tasks?status=all"
    user = signed_user(IDENTITY_SECRET, seen.headers, method="GET", path_qs=seen.raw_path)
    assert user == "alice"
    assert seen.headers["X-Request-ID"] == response.headers["X-Request-ID"]
    assert "Authorization" not in seen.headers


async def test_missing_token_is_401_with_bare_challenge(stack: Stack) -> None:
    response = await stack.client.get("/api/alice/tasks")
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="todo-gateway"'
    body = await response.json()
    assert body["error"] == "unauthorized"
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert stack.recorder.seen == []


async def test_bad_token_is_401_invalid_token(stack: Stack) -> None:
    forged = make_token("alice", secret="another-secret-that-is-long-enough-000")
    response = await stack.client.get(
        "/api/alice/tasks", headers={"Authorization": f"Bearer {forged}"}
    )
    assert response.status == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="todo-gateway", error="invalid_token"')
    assert 'error_description="' in challenge
    assert forged not in challenge
    assert stack.recorder.seen == []


async def test_expired_token_is_401(stack: Stack) -> None:
    response = await stack.client.get("/api/alice/tasks", headers=bearer("alice", ttl=-3600))
    assert response.status == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


async def test_long_authorization_header_gets_json_401(stack: Stack) -> None:
    response = await stack.client.get(
        "/api/alice/tasks", headers={"Authorization": "Bearer " + "a" * 10 * 1024}
    )
    assert response.status == 401
    assert (await response.json())["error"] == "unauthorized"


async def test_other_users_data_is_403(stack: Stack) -> None:
    response = await stack.client.get("/api/bob/tasks/1", headers=bearer("alice"))
    assert response.status == 403
    assert (await response.json())["error"] == "forbidden"
    assert stack.recorder.seen == []


async def test_unmatched_is_404_and_never_forwarded(stack: Stack) -> None:
    for path in ("/", "/api", "/api/alice", "/api/alice/notes", "/admin", "/api/alice/tasksx"):
        response = await stack.client.get(path, headers=bearer("alice"))
        assert response.status == 404, path
        assert (await response.json())["error"] == "not_found"
    assert stack.recorder.seen == []


async def test_method_outside_the_route_is_404(stack: Stack) -> None:
    response = await stack.client.delete("/api/alice/tasks", headers=bearer("alice"))
    assert response.status == 404
    assert stack.recorder.seen == []


async def test_public_route_passes_everything_untouched(stack: Stack) -> None:
    headers = {
        "Cookie": "session=abc",
        "Origin": "http://localhost:3000",
        "Authorization": "Bearer opaque-session-token",
    }
    response = await stack.client.post("/api/auth/sign-in/email", headers=headers, data=b"{}")
    assert response.status == 200
    [seen] = stack.recorder.seen
    assert seen.raw_path == "/api/auth/sign-in/email"
    assert seen.headers["Cookie"] == "session=abc"
    assert seen.headers["Origin"] == "http://localhost:3000"
    assert seen.headers["Authorization"] == "Bearer opaque-session-token"
    assert "X-User-Id" not in seen.headers
    assert response.headers.getall("Set-Cookie") == ["a=1; Path=/", "b=2; Path=/"]


async def test_auth_routes_are_404_without_better_auth_url(make_stack: StackFactory) -> None:
    def without_better_auth(config: dict[str, Any]) -> None:
        config["upstreams"]["better_auth"] = {
            "enabled_when_set": "BETTER_AUTH_URL",
            "url": "${BETTER_AUTH_URL}",
        }

    stack = await make_stack(without_better_auth)
    response = await stack.client.get("/api/auth/session")
    assert response.status == 404
    assert stack.recorder.seen == []


async def test_forward_authorization_can_be_enabled_per_route(make_stack: StackFactory) -> None:
    def forward(config: dict[str, Any]) -> None:
        for route in config["routes"]:
            if route["name"] == "tasks":
                route["forward_authorization"] = True

    stack = await make_stack(forward)
    headers = bearer("alice")
    response = await stack.client.get("/api/alice/tasks", headers=headers)
    assert response.status == 200
    assert stack.recorder.seen[0].headers["Authorization"] == headers["Authorization"]


async def test_healthz_and_readyz(stack: Stack) -> None:
    assert (await stack.client.get("/healthz")).status == 200
    ready = await stack.client.get("/readyz")
    assert ready.status == 200
    assert (await ready.json())["checks"] == {"backend": True, "keys": True}


async def test_readyz_is_503_when_backend_is_down(make_stack: StackFactory) -> None:
    def dead_backend(config: dict[str, Any]) -> None:
        config["upstreams"]["backend"]["url"] = "http://127.0.0.1:9"

    stack = await make_stack(dead_backend)
    assert (await stack.client.get("/healthz")).status == 200
    ready = await stack.client.get("/readyz")
    assert ready.status == 503
    body = await ready.json()
    assert body["error"] == "unavailable"
    assert body["checks"]["backend"] is False
