"""`rate_limits:` and a route's `rate_limit:`: defaults, env overrides, problems by YAML path."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config import ConfigError, GatewaySettings
from gateway.ratelimit.gcra import Quota
from gateway.ratelimit.limiter import route_quota
from gateway.ratelimit.settings import RateLimitSettings, RouteLimitSettings
from gateway.routing.policy import Policy
from tests.gateway.conftest import default_config, gateway_env, settings_for

AUTH_URL = "http://127.0.0.1:3000"


def load(edit: Any = None, **env: str) -> GatewaySettings:
    config = default_config()
    if edit is not None:
        edit(config)
    return settings_for(config, gateway_env(**env))


def problems(edit: Any = None, **env: str) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load(edit, **env)
    return raised.value.problems


def quotas(settings: GatewaySettings) -> dict[str, tuple[str, Quota] | None]:
    policy = Policy(settings.routes, settings.rate_limits)
    return {
        route.name: None if route.limit is None else (route.limit.bucket, route.limit.quota)
        for route in policy.routes
    }


def test_the_default_config_limits_users_and_sign_in() -> None:
    settings = load(BETTER_AUTH_URL=AUTH_URL)
    assert settings.rate_limits.redis_url is None
    assert quotas(settings) == {
        "healthz": None,
        "readyz": None,
        "better_auth": ("route:better_auth", Quota(120, 30)),
        "tasks": ("default", Quota(600, 100)),
        "task": ("default", Quota(600, 100)),
    }


def test_env_overrides_the_defaults_and_zero_turns_a_limit_off() -> None:
    settings = load(RATE_LIMIT_PER_USER="60", RATE_LIMIT_PER_IP="0", BETTER_AUTH_URL=AUTH_URL)
    assert settings.rate_limits.per_user == 60
    assert settings.rate_limits.per_ip == 0
    assert quotas(settings)["tasks"] == ("default", Quota(60, 10))
    assert quotas(settings)["better_auth"] is None  # its own per_ip too: env 0 is an off switch


def test_zero_in_the_file_turns_off_only_the_default() -> None:
    def edit(config: dict[str, Any]) -> None:
        config["rate_limits"] = {"per_ip": 0}

    assert quotas(load(edit, BETTER_AUTH_URL=AUTH_URL))["better_auth"] == (
        "route:better_auth",
        Quota(120, 30),
    )


def test_a_route_can_switch_its_limit_off() -> None:
    def edit(config: dict[str, Any]) -> None:
        config["routes"][3]["rate_limit"] = "off"

    assert quotas(load(edit))["tasks"] is None


def test_redis_url_comes_from_the_environment_and_is_never_shown() -> None:
    url = "redis://:s3cret@127.0.0.1:6379/0"
    settings = load(REDIS_URL=url)
    assert settings.rate_limits.redis_url == url
    assert "s3cret" not in repr(settings)
    found = problems(REDIS_URL="http://:s3cret@example")
    assert found == ["rate_limits: REDIS_URL: expected a redis://, rediss:// or unix:// URL"]


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ({"per_user": -1}, "rate_limits.per_user: Input should be greater than or equal to 0"),
        ({"per_ip": "many"}, "rate_limits.per_ip: Input should be a valid integer"),
        (
            {"per_ip": 1_000_001},
            "rate_limits.per_ip: Input should be less than or equal to 1000000",
        ),
        ({"redis_url": "redis://elsewhere"}, "rate_limits.redis_url: unknown key"),
        ({"burst": 0}, "rate_limits.burst: Input should be greater than or equal to 1"),
        (
            {"on_store_error": "maybe"},
            "rate_limits.on_store_error: Input should be 'allow' or 'deny'",
        ),
        (
            {"store_timeout_ms": 0},
            "rate_limits.store_timeout_ms: Input should be greater than or equal to 1",
        ),
        ({"per_minute": 5}, "rate_limits.per_minute: unknown key"),
    ],
)
def test_bad_defaults_are_named(section: dict[str, Any], problem: str) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["rate_limits"] = section

    assert any(item.startswith(problem) for item in problems(edit)), problems(edit)


def test_bad_env_overrides_are_named() -> None:
    expected = "expected 0 (off) to 1000000 requests a minute, got"
    found = problems(RATE_LIMIT_PER_USER="ten")
    assert found == [f"rate_limits: RATE_LIMIT_PER_USER: {expected} 'ten'"]
    found = problems(RATE_LIMIT_PER_IP="1000001")
    assert found == [f"rate_limits: RATE_LIMIT_PER_IP: {expected} '1000001'"]


@pytest.mark.parametrize(
    ("index", "value", "problem"),
    [
        (3, {"per_usr": 5}, "routes[3].rate_limit.per_usr: unknown key"),
        (3, {"burst": 0}, "routes[3].rate_limit.burst: Input should be greater than or equal to 1"),
        (3, 5, "routes[3].rate_limit: expected a mapping"),
        (0, {"per_ip": 5}, "routes[0].rate_limit: only routes with an `upstream` are rate limited"),
    ],
)
def test_bad_route_limits_are_named(index: int, value: Any, problem: str) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["routes"][index]["rate_limit"] = value

    assert any(item.startswith(problem) for item in problems(edit)), problems(edit)


def test_a_route_name_becomes_a_valid_policy_name_and_its_own_bucket() -> None:
    own = RouteLimitSettings(per_user=5)
    limit = route_quota(RateLimitSettings(), 'de"fault\\ é', True, own)
    assert limit is not None
    assert limit.policy == ("RateLimit-Policy", '"de_fault_ _";q=5;w=60')
    named_default = route_quota(RateLimitSettings(), "default", True, own)
    assert named_default is not None
    assert named_default.bucket != "default"  # never the shared bucket of the defaults
