"""`rate_limits:` (defaults) and a route's `rate_limit:` in gateway.yaml, with env overrides.

    rate_limits:
      per_user: 600        # requests a minute per verified user on protected routes; 0: off
      per_ip: 300          # per client address on public routes; 0: off
      burst: 50            # requests at once (default: ten seconds' worth of the rate)
      on_store_error: allow  # or deny, when Redis is down or slower than store_timeout_ms
      store_timeout_ms: 100
    routes:
      - name: better_auth
        rate_limit: {per_ip: 60, burst: 10}   # its own bucket; `rate_limit: off` for none

`RATE_LIMIT_PER_USER` / `RATE_LIMIT_PER_IP` replace the two defaults, and `0` turns that kind
of limit off on every route (routes' own numbers included: an operator's off switch);
`REDIS_URL` shares every limit through Redis.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationInfo, model_validator
from yarl import URL

from gateway import yamlenv
from gateway.ratelimit.gcra import Quota

PER_USER_ENV = "RATE_LIMIT_PER_USER"
PER_IP_ENV = "RATE_LIMIT_PER_IP"
REDIS_URL_ENV = "REDIS_URL"
_REDIS_SCHEMES = ("redis", "rediss", "unix")
# Requests a minute: an emission interval of 60 µs at most, whole microseconds on Redis.
MAX_RATE = 1_000_000
# Set from the environment only, never from the file.
_FROM_ENV = ("redis_url", "user_limits_off", "ip_limits_off")

Rate = Annotated[yamlenv.Int, Field(le=MAX_RATE)]
Burst = Annotated[yamlenv.Int, Field(ge=1)]


def _off_is_disabled(value: Any) -> Any:
    # YAML reads a bare `off` as false.
    return {"enabled": False} if value is False or value == "off" else value


class RouteLimitSettings(yamlenv.Section):
    """A route's own `rate_limit:`; a missing number falls back to the defaults."""

    enabled: yamlenv.Bool = True
    per_user: Rate | None = None
    per_ip: Rate | None = None
    burst: Burst | None = None


RouteLimit = Annotated[RouteLimitSettings | None, BeforeValidator(_off_is_disabled)]


class RateLimitSettings(yamlenv.Section):
    per_user: Rate = 600
    per_ip: Rate = 300
    burst: Burst | None = None
    on_store_error: Literal["allow", "deny"] = "allow"
    store_timeout_ms: Annotated[yamlenv.Float, Field(ge=1)] = 100.0
    # After a store error, decide without the store for this long (no per-request timeouts).
    store_retry_seconds: yamlenv.Float = 1.0
    key_prefix: str = "gateway:rl:"
    redis_url: str | None = Field(default=None, repr=False)  # may carry a password
    # Set by RATE_LIMIT_PER_USER=0 / RATE_LIMIT_PER_IP=0: no route has that kind of limit.
    user_limits_off: bool = False
    ip_limits_off: bool = False

    @property
    def store_timeout_seconds(self) -> float:
        return self.store_timeout_ms / 1000

    def quota(self, rate: int, burst: int | None) -> Quota | None:
        """The quota for a rate (requests a minute); None when the rate is 0 (off)."""
        if rate <= 0:
            return None
        chosen = burst if burst is not None else self.burst
        return Quota(rate, chosen if chosen else max(1, math.ceil(rate / 6)))

    @model_validator(mode="before")
    @classmethod
    def _environment(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict) or info.context is None:  # built in code, not loaded
            return data
        for key in _FROM_ENV:
            if key in data:
                raise ValueError(f".{key}: unknown key")
        env = yamlenv.env_of(info)
        data = {**data, **_env_rate(env, PER_USER_ENV, "per_user", "user_limits_off")}
        data.update(_env_rate(env, PER_IP_ENV, "per_ip", "ip_limits_off"))
        url = env.get(REDIS_URL_ENV, "").strip()
        if url:
            data["redis_url"] = _redis_url(url)
        return data


def _env_rate(env: Any, name: str, key: str, off: str) -> dict[str, Any]:
    text = env.get(name, "").strip()
    if not text:
        return {}
    if not text.isdigit() or int(text) > MAX_RATE:
        raise ValueError(f"{name}: expected 0 (off) to {MAX_RATE} requests a minute, got {text!r}")
    return {key: int(text), off: int(text) == 0}


def _redis_url(text: str) -> str:
    try:
        scheme = URL(text).scheme
    except ValueError:
        scheme = ""
    if scheme not in _REDIS_SCHEMES:
        # Never the value: it may carry a password.
        raise ValueError(f"{REDIS_URL_ENV}: expected a redis://, rediss:// or unix:// URL")
    return text
