"""Rate limits through the real gateway: 429s, headers, whose bucket a request spends."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.gateway.conftest import Stack, StackFactory, bearer


def limits(per_user: int = 1, per_ip: int = 1, burst: int = 3) -> Any:
    def configure(config: dict[str, Any]) -> None:
        config["rate_limits"] = {"per_user": per_user, "per_ip": per_ip, "burst": burst}
        for route in config["routes"]:
            route.pop("rate_limit", None)

    return configure


async def statuses(stack: Stack, path: str, count: int, **kwargs: Any) -> list[int]:
    result = []
    for _ in range(count):
        async with stack.client.get(path, **kwargs) as response:
            await response.read()
            result.append(response.status)
    return result


async def test_a_user_past_the_limit_gets_429_and_the_backend_nothing(
    make_stack: StackFactory,
) -> None:
    stack = await make_stack(limits(per_user=1, burst=3))
    assert await statuses(stack, "/api/alice/tasks", 3, headers=bearer("alice")) == [200] * 3
    async with stack.client.get("/api/alice/tasks", headers=bearer("alice")) as response:
        body = await response.read()
        assert response.status == 429
        assert int(response.headers["Retry-After"]) >= 59
        assert response.headers["RateLimit-Policy"] == '"default";q=1;w=60'
        assert response.headers["RateLimit"].startswith('"default";r=0;t=')
        assert response.headers["X-Request-ID"]
    error = orjson.loads(body)
    assert error["error"] == "rate_limited"
    assert error["request_id"] == response.headers["X-Request-ID"]
    assert "alice" not in error["message"]
    assert len(stack.recorder.seen) == 3
    # Another user has a bucket of their own.
    assert await statuses(stack, "/api/bob/tasks", 1, headers=bearer("bob")) == [200]


async def test_admitted_responses_count_down(make_stack: StackFactory) -> None:
    stack = await make_stack(limits(per_user=60, burst=3))
    seen = []
    for _ in range(3):
        async with stack.client.get("/api/alice/tasks", headers=bearer("alice")) as response:
            assert response.status == 200
            assert response.headers["RateLimit-Policy"] == '"default";q=60;w=60'
            seen.append(response.headers["RateLimit"])
    assert seen == ['"default";r=2;t=1', '"default";r=1;t=2', '"default";r=0;t=3']


async def test_a_bad_token_is_refused_before_it_spends_anything(make_stack: StackFactory) -> None:
    stack = await make_stack(limits(per_user=1, burst=1))
    bad = {"Authorization": "Bearer not.a.token"}
    assert await statuses(stack, "/api/alice/tasks", 3, headers=bad) == [401] * 3
    assert await statuses(stack, "/api/alice/tasks", 1, headers=bearer("alice")) == [200]


async def test_public_routes_are_limited_per_client_address(make_stack: StackFactory) -> None:
    stack = await make_stack(limits(per_ip=1, burst=2))
    assert await statuses(stack, "/api/auth/sign-in/email", 3) == [200, 200, 429]
    # A forged X-Forwarded-For from an untrusted peer changes nothing.
    forged = {"X-Forwarded-For": "203.0.113.9"}
    assert await statuses(stack, "/api/auth/get-session", 1, headers=forged) == [429]


async def test_behind_a_trusted_proxy_the_forwarded_client_is_limited(
    make_stack: StackFactory,
) -> None:
    def configure(config: dict[str, Any]) -> None:
        limits(per_ip=1, burst=1)(config)
        config["trusted_proxies"] = ["127.0.0.1/32", "10.0.0.0/8"]

    stack = await make_stack(configure)
    first = {"X-Forwarded-For": "198.51.100.7"}
    # The client prepended a fake address; the proxy (10.1.1.1) appended the real one.
    chained = {"X-Forwarded-For": "192.0.2.1, 198.51.100.8, 10.1.1.1"}
    assert await statuses(stack, "/api/auth/x", 2, headers=first) == [200, 429]
    assert await statuses(stack, "/api/auth/x", 2, headers=chained) == [200, 429]
    spoofed = {"X-Forwarded-For": "192.0.2.1, 198.51.100.8"}
    assert await statuses(stack, "/api/auth/x", 1, headers=spoofed) == [429]
    ipv6 = [{"X-Forwarded-For": f"2001:db8:1:2::{n}"} for n in (1, 2)]
    assert await statuses(stack, "/api/auth/x", 1, headers=ipv6[0]) == [200]
    assert await statuses(stack, "/api/auth/x", 1, headers=ipv6[1]) == [429]  # same /64


async def test_a_route_with_its_own_limit_has_its_own_bucket(make_stack: StackFactory) -> None:
    def configure(config: dict[str, Any]) -> None:
        limits(per_user=1, burst=1)(config)
        config["routes"][3]["rate_limit"] = {"per_user": 1, "burst": 2}  # tasks

    stack = await make_stack(configure)
    assert config_route_names(stack)[3] == "tasks"
    async with stack.client.get("/api/alice/tasks", headers=bearer("alice")) as response:
        assert response.headers["RateLimit-Policy"] == '"tasks";q=1;w=60'
    assert await statuses(stack, "/api/alice/tasks", 2, headers=bearer("alice")) == [200, 429]
    assert await statuses(stack, "/api/alice/tasks/1", 2, headers=bearer("alice")) == [200, 429]


def config_route_names(stack: Stack) -> list[str]:
    return [route.name for route in stack.settings.routes]


@pytest.mark.parametrize("env", [{"RATE_LIMIT_PER_USER": "0", "RATE_LIMIT_PER_IP": "0"}])
async def test_zero_turns_limits_off(make_stack: StackFactory, env: dict[str, str]) -> None:
    def configure(config: dict[str, Any]) -> None:
        limits(per_user=1, per_ip=1, burst=1)(config)
        config["routes"][2]["rate_limit"] = {"per_ip": 1, "burst": 1}  # better_auth
        config["routes"][3]["rate_limit"] = {"per_user": 1, "burst": 1}  # tasks

    stack = await make_stack(configure, **env)
    assert stack.settings.routes[2].rate_limit is not None  # its own numbers: off all the same
    for path, headers in (("/api/alice/tasks", bearer("alice")), ("/api/auth/x", {})):
        async with stack.client.get(path, headers=headers) as response:
            assert response.status == 200
            assert "RateLimit-Policy" not in response.headers
        assert await statuses(stack, path, 3, headers=headers) == [200] * 3


async def test_health_and_preflight_are_never_limited(make_stack: StackFactory) -> None:
    stack = await make_stack(limits(per_user=1, per_ip=1, burst=1))
    assert await statuses(stack, "/healthz", 3) == [200] * 3
    preflight = {"Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET"}
    for _ in range(3):
        async with stack.client.options("/api/alice/tasks", headers=preflight) as response:
            assert response.status == 204


async def test_hostile_forwarded_headers_never_break_the_limit(make_stack: StackFactory) -> None:
    def configure(config: dict[str, Any]) -> None:
        limits(per_ip=1, burst=1)(config)
        config["trusted_proxies"] = ["127.0.0.1/32"]

    stack = await make_stack(configure)
    hostile = [
        "x" * 5000,  # too long: the peer stands
        "<script>, 127.0.0.1",
        "::ffff:198.51.100.1",  # the same client as 198.51.100.1
        "198.51.100.1",
        "999.1.1.1, \u0661.2.3.4",
        ", , ,",
    ]
    results = []
    for value in hostile:
        async with stack.client.get("/api/auth/x", headers={"X-Forwarded-For": value}) as response:
            body = await response.read()
            results.append(response.status)
            assert value.encode() not in body
    assert results == [200, 429, 200, 429, 429, 429]
