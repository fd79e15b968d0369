"""GCRA on Redis: one EVALSHA per request, so every worker and replica shares one limit.

The script reads Redis's own clock (TIME), so replicas whose clocks disagree still agree on
the limit; it keeps one key per user or address with a TTL of its TAT, nothing else.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from gateway.ratelimit.gcra import Decision, Quota

_MICROS = 1_000_000
# KEYS[1]: the key. ARGV[1]: emission interval, ARGV[2]: tolerance, both in microseconds;
# ARGV[3], for tests only: the time instead of Redis's clock.
# Returns {allowed, remaining, reset µs, retry-after µs}.
GCRA_SCRIPT = """
local now = tonumber(ARGV[3])
if not now then
  local clock = redis.call('TIME')
  now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
end
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = now
local stored = redis.call('GET', KEYS[1])
if stored then tat = math.max(tonumber(stored), now) end
local debt = tat - now
if debt > tolerance then
  return {0, 0, math.ceil(debt), math.ceil(debt - tolerance)}
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX',
           math.ceil((new_tat - now) / 1000))
local remaining = math.floor((tolerance + interval - (new_tat - now)) / interval + 1e-9)
return {1, remaining, math.ceil(new_tat - now), 0}
"""


class RedisStore:
    """Raises on any store trouble (down, slow past `timeout`, bad reply); the limiter decides
    what a failure means."""

    def __init__(self, url: str, *, timeout: float, key_prefix: str) -> None:
        self._timeout = timeout
        self._prefix = key_prefix
        # No retries: a retry would stretch the bounded time a request can wait.
        self._client = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        self._script = self._client.register_script(GCRA_SCRIPT)

    async def check(self, key: str, quota: Quota, *, at_micros: int | None = None) -> Decision:
        args: tuple[int, ...] = (round(quota.interval * _MICROS), round(quota.tolerance * _MICROS))
        if at_micros is not None:
            args += (at_micros,)
        async with asyncio.timeout(self._timeout):
            reply: Any = await self._script(keys=[self._prefix + key], args=args)
        allowed, remaining, reset, retry = (int(value) for value in reply)
        return Decision(bool(allowed), remaining, reset / _MICROS, retry / _MICROS)

    async def close(self) -> None:
        await self._client.aclose()
