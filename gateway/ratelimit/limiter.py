"""The rate-limit step: which quota a route has, whose bucket a request spends, and the answer.

Protected routes spend the verified user's bucket, public routes the client address's. A route
without its own `rate_limit:` shares the `default` policy's buckets with every such route.
Limited responses carry draft-ietf-httpapi-ratelimit-headers fields:
`RateLimit-Policy: "default";q=600;w=60` and `RateLimit: "default";r=<left>;t=<seconds>`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
from aiohttp import web

from gateway.ratelimit.client_address import Network, client_key
from gateway.ratelimit.gcra import PERIOD_SECONDS, Decision, LocalStore, Quota
from gateway.ratelimit.settings import RateLimitSettings, RouteLimitSettings
from service_plumbing.errors import ApiError

if TYPE_CHECKING:
    from gateway.ratelimit.redis_store import RedisStore

# Called once per request decided without the store: "timeout", "unavailable" or "skipped"
# (the store failed less than `store_retry_seconds` ago). A metrics counter plugs in here.
StoreErrorHook = Callable[[str], None]
# Headers set on the response of a limited request, read by `apply_headers`.
LIMIT_HEADERS: web.RequestKey[tuple[tuple[str, str], ...]] = web.RequestKey("ratelimit_headers")
_LOG_EVERY_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class RouteQuota:
    bucket: str  # the key's first part: `default`, or `route:<name>` for a route's own
    quota: Quota
    per_user: bool  # else per client address
    policy: tuple[str, str]  # the RateLimit-Policy field
    remaining_prefix: str  # the RateLimit field up to its `r=` value


def route_quota(
    settings: RateLimitSettings,
    route_name: str,
    auth_required: bool,
    own: RouteLimitSettings | None,
) -> RouteQuota | None:
    """The quota a route spends, or None when it is not limited."""
    if own is not None and not own.enabled:
        return None
    if settings.user_limits_off if auth_required else settings.ip_limits_off:
        return None
    chosen = None if own is None else own.per_user if auth_required else own.per_ip
    default = settings.per_user if auth_required else settings.per_ip
    quota = settings.quota(default if chosen is None else chosen, own.burst if own else None)
    if quota is None:
        return None
    name = "default" if own is None else _sf_string(route_name)
    bucket = "default" if own is None else f"route:{route_name}"
    policy = ("RateLimit-Policy", f'"{name}";q={quota.rate};w={int(PERIOD_SECONDS)}')
    return RouteQuota(bucket, quota, auth_required, policy, f'"{name}";r=')


def _sf_string(text: str) -> str:
    """A route name as the inside of a structured-field string (printable ASCII, no quote
    or backslash)."""
    return "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in text)


class RateLimiter:
    def __init__(
        self,
        settings: RateLimitSettings,
        *,
        trusted_proxies: tuple[Network, ...] = (),
        local: LocalStore | None = None,
        on_store_error: StoreErrorHook | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._trusted = trusted_proxies
        self._local = local if local is not None else LocalStore()
        self._redis = _redis_store(settings)
        self._on_store_error = on_store_error
        self._clock = clock
        self._store_down_until = -math.inf
        self._logged_at = -math.inf
        self._unlogged = 0
        self._log = structlog.get_logger("gateway")

    async def check(self, request: web.BaseRequest, limit: RouteQuota, user_id: str | None) -> None:
        """Spend one request of its bucket; raise 429 when empty. Sets the response headers."""
        if limit.per_user:
            key = f"{limit.bucket}:u:{user_id}"
        else:
            key = f"{limit.bucket}:a:{client_key(request, self._trusted)}"
        if self._redis is None:
            decision: Decision | None = self._local.check(key, limit.quota)
        else:
            decision = await self.decide(key, limit.quota)
        if decision is None:  # the store failed and on_store_error is allow: nothing counted
            request[LIMIT_HEADERS] = (limit.policy,)
            return
        reset = math.ceil(decision.reset_seconds)
        state = f"{limit.remaining_prefix}{decision.remaining};t={reset}"
        headers = (limit.policy, ("RateLimit", state))
        if decision.allowed:
            request[LIMIT_HEADERS] = headers
            return
        retry = max(1, math.ceil(decision.retry_after_seconds))
        raise ApiError(
            429,
            "too many requests; retry later",
            code="rate_limited",
            headers={"Retry-After": str(retry), **dict(headers)},
            reason="rate_limited",
        )

    async def decide(self, key: str, quota: Quota) -> Decision | None:
        """The store's decision; on store trouble, None (allow) or a refusal (deny)."""
        if self._redis is None:
            return self._local.check(key, quota)
        now = self._clock()
        if now < self._store_down_until:
            return self._store_failed("skipped", now)
        try:
            return await self._redis.check(key, quota)
        except TimeoutError:
            return self._store_failed("timeout", now)
        except Exception:  # connection refused, reset, bad reply: never a 5xx for the client
            return self._store_failed("unavailable", now)

    def _store_failed(self, outcome: str, now: float) -> Decision | None:
        if outcome != "skipped":
            self._store_down_until = now + self._settings.store_retry_seconds
        if self._on_store_error is not None:
            self._on_store_error(outcome)
        self._log_store_error(outcome, now)
        if self._settings.on_store_error == "allow":
            return None
        retry = self._settings.store_retry_seconds
        return Decision(False, 0, retry, retry)

    def _log_store_error(self, outcome: str, now: float) -> None:
        """At most one line every ten seconds, counting the decisions it stands for."""
        self._unlogged += 1
        if now - self._logged_at < _LOG_EVERY_SECONDS:
            return
        self._log.warning(
            "rate_limit_store_error",
            outcome=outcome,
            decided_without_store=self._unlogged,
            on_store_error=self._settings.on_store_error,
        )
        self._logged_at, self._unlogged = now, 0

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.close()


def _redis_store(settings: RateLimitSettings) -> RedisStore | None:
    if not settings.redis_url:
        return None
    # Imported only when used: the redis package's objects would otherwise sit in every
    # gateway's heap, where each garbage collection walks them.
    from gateway.ratelimit.redis_store import RedisStore

    return RedisStore(
        settings.redis_url, timeout=settings.store_timeout_seconds, key_prefix=settings.key_prefix
    )


def apply_headers(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """A `before_send` hook: the RateLimit fields of a limited request onto its response."""
    try:
        headers = request[LIMIT_HEADERS]
    except KeyError:
        return  # a route without a limit, or a request refused before the limit
    for name, value in headers:
        response.headers[name] = value
