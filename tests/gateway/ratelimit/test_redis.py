"""GCRA on Redis: the machine's Redis for exactness, one of the test's own to stop mid-test."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from structlog.testing import capture_logs

from gateway.ratelimit.gcra import Quota, decide
from gateway.ratelimit.limiter import RateLimiter, route_quota
from gateway.ratelimit.redis_store import RedisStore
from gateway.ratelimit.settings import RateLimitSettings
from tests.gateway.conftest import Stack, StackFactory, bearer
from tests.gateway.ratelimit.redis_server import MACHINE_REDIS, RedisServer, key_prefix

NO_HANG_SECONDS = 10.0  # a guard against a hang, not a timing assertion


async def test_the_script_is_exact_on_the_machines_redis() -> None:
    store = RedisStore(MACHINE_REDIS, timeout=1.0, key_prefix=key_prefix())
    try:
        quota = Quota(rate=1, burst=3)
        decisions = [await store.check("alice", quota) for _ in range(4)]
        assert [d.allowed for d in decisions] == [True, True, True, False]
        assert [d.remaining for d in decisions] == [2, 1, 0, 0]
        assert decisions[0].reset_seconds == pytest.approx(60, abs=0.01)
        assert decisions[3].retry_after_seconds == pytest.approx(60, abs=0.5)
        assert (await store.check("bob", quota)).allowed
    finally:
        await store.close()


async def test_keys_expire_with_their_tat(redis_server: RedisServer) -> None:
    prefix = key_prefix()
    store = RedisStore(redis_server.url, timeout=1.0, key_prefix=prefix)
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        await store.check("alice", Quota(rate=600, burst=5))
        ttl = await client.pttl(f"{prefix}alice")
        assert 0 < ttl <= 100
    finally:
        await client.aclose()
        await store.close()


async def test_a_flushed_script_is_loaded_again(redis_server: RedisServer) -> None:
    store = RedisStore(redis_server.url, timeout=1.0, key_prefix=key_prefix())
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        quota = Quota(rate=1, burst=2)
        assert (await store.check("alice", quota)).allowed
        await client.script_flush()
        assert (await store.check("alice", quota)).allowed
        assert not (await store.check("alice", quota)).allowed
    finally:
        await client.aclose()
        await store.close()


def shared_limits(url: str, on_error: str) -> Any:
    def configure(config: dict[str, Any]) -> None:
        config["rate_limits"] = {
            "per_user": 1,
            "burst": 2,
            "on_store_error": on_error,
            "store_timeout_ms": 100,
            "store_retry_seconds": 0,
            "key_prefix": key_prefix(),
        }

    return configure


async def get(stack: Stack) -> tuple[int, Any, dict[str, str]]:
    request = stack.client.get("/api/alice/tasks", headers=bearer("alice"))
    async with asyncio.timeout(NO_HANG_SECONDS), request as response:
        return response.status, orjson.loads(await response.read()), dict(response.headers)


@pytest.mark.parametrize("how", ["stopped", "paused"])
async def test_redis_down_with_allow_lets_requests_through(
    make_stack: StackFactory, redis_server: RedisServer, how: str
) -> None:
    stack = await make_stack(shared_limits(redis_server.url, "allow"), REDIS_URL=redis_server.url)
    status, _, headers = await get(stack)
    assert status == 200
    assert headers["RateLimit"] == '"default";r=1;t=60'
    redis_server.stop() if how == "stopped" else redis_server.pause()
    with capture_logs() as logs:
        results = [await get(stack) for _ in range(4)]
    assert [status for status, _, _ in results] == [200] * 4
    assert all("RateLimit" not in headers for _, _, headers in results)
    assert all(headers["RateLimit-Policy"] for _, _, headers in results)
    errors = [line for line in logs if line["event"] == "rate_limit_store_error"]
    assert len(errors) == 1  # one line, not one a request
    assert errors[0]["outcome"] == ("timeout" if how == "paused" else "unavailable")


async def test_redis_down_with_deny_refuses_with_429(
    make_stack: StackFactory, redis_server: RedisServer
) -> None:
    stack = await make_stack(shared_limits(redis_server.url, "deny"), REDIS_URL=redis_server.url)
    assert (await get(stack))[0] == 200
    redis_server.pause()
    status, body, headers = await get(stack)
    assert status == 429
    assert body["error"] == "rate_limited"
    assert headers["Retry-After"] == "1"
    redis_server.stop()
    assert (await get(stack))[0] == 429


async def test_limits_hold_again_once_redis_is_back(
    make_stack: StackFactory, redis_server: RedisServer
) -> None:
    stack = await make_stack(shared_limits(redis_server.url, "allow"), REDIS_URL=redis_server.url)
    redis_server.stop()
    assert (await get(stack))[0] == 200
    redis_server.start()  # empty: the old state is gone
    assert [(await get(stack))[0] for _ in range(3)] == [200, 200, 429]


async def test_store_errors_reach_the_metric_hook_and_pause_the_store() -> None:
    seen: list[str] = []
    settings = RateLimitSettings(
        redis_url=f"redis://127.0.0.1:{RedisServer().port}/0",  # nobody listens there
        store_retry_seconds=30,
    )
    limiter = RateLimiter(settings, on_store_error=seen.append)
    limit = route_quota(settings, "tasks", True, None)
    assert limit is not None
    try:
        for _ in range(3):
            assert await limiter.decide("default:u:alice", limit.quota) is None
    finally:
        await limiter.close()
    assert seen == ["unavailable", "skipped", "skipped"]


@pytest.mark.parametrize(("rate", "burst"), [(60, 1), (60, 5), (600, 100), (7, 2)])
async def test_the_script_decides_exactly_as_the_in_process_gcra(
    redis_server: RedisServer, rate: int, burst: int
) -> None:
    """The same arrivals, on one injected clock, through Lua and through Python. Lua works in
    whole microseconds, so times agree to rounding (an interval of 60/7 s is 8571429 µs)."""
    arrivals = random.Random(rate * 1000 + burst)
    quota = Quota(rate=rate, burst=burst)
    store = RedisStore(redis_server.url, timeout=1.0, key_prefix=key_prefix())
    tat, now = 0.0, 1_700_000_000_000_000  # microseconds
    try:
        for _ in range(300):
            now += arrivals.choice((0, 1, round(quota.interval * 1e6) // 3, 10**6))
            expected, tat = decide(quota, tat, now / 1e6)
            got = await store.check("k", quota, at_micros=now)
            assert (got.allowed, got.remaining) == (expected.allowed, expected.remaining)
            assert got.reset_seconds == pytest.approx(expected.reset_seconds, abs=1e-3)
            assert got.retry_after_seconds == pytest.approx(expected.retry_after_seconds, abs=1e-3)
    finally:
        await store.close()
