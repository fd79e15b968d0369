"""gateway.yaml loading: interpolation, types, unknown keys, secret rules, switched-off sources."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from gateway.config import ConfigError, load_settings
from tests.gateway.conftest import DEFAULT_YAML, IDENTITY_SECRET, TOKEN_SECRET, gateway_env

DEFAULT = DEFAULT_YAML.read_text(encoding="utf-8")
NOT_A_METHOD = (
    "Input should be 'GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE' or 'OPTIONS', got 'FETCH'"
)


def problems(text: str, env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(text, env)
    return caught.value.problems


def edited(change: Any) -> str:
    config = yaml.safe_load(DEFAULT)
    change(config)
    return yaml.safe_dump(config)


def test_defaults_with_env_alone() -> None:
    settings = load_settings(DEFAULT, gateway_env())
    assert settings.listen.port == 8080
    assert settings.limits.max_body_bytes == 1024 * 1024
    assert settings.upstream("backend").url == "http://127.0.0.1:8000"
    assert settings.cors.allow_origins == ("http://localhost:3000",)
    assert settings.log_level == "info"
    assert settings.auth.secret is not None
    assert settings.auth.secret.secret == TOKEN_SECRET.encode()
    assert settings.auth.jwks == ()
    assert settings.identity_secret == IDENTITY_SECRET.encode()
    assert [route.name for route in settings.routes] == ["healthz", "readyz", "tasks", "task"]


def test_environment_overrides() -> None:
    env = gateway_env(
        GATEWAY_PORT="9090",
        BACKEND_URL="http://backend:8000/",
        LOG_LEVEL="warning",
        CORS_ALLOW_ORIGINS="https://a.example,https://b.example",
        BETTER_AUTH_URL="https://auth.example",
    )
    settings = load_settings(DEFAULT, env)
    assert settings.listen.port == 9090
    assert settings.upstream("backend").url == "http://backend:8000"
    assert settings.log_level == "warning"
    assert settings.cors.allow_origins == ("https://a.example", "https://b.example")
    [jwks] = settings.auth.jwks
    assert jwks.url == "https://auth.example/api/auth/jwks"
    assert jwks.issuer == "https://auth.example"
    assert jwks.audiences == ("https://auth.example",)
    assert settings.upstream("better_auth").url == "https://auth.example"
    assert "better_auth" in [route.name for route in settings.routes]


def test_jwks_alone_is_a_key_source() -> None:
    env = gateway_env(BETTER_AUTH_URL="https://auth.example")
    del env["BETTER_AUTH_SECRET"]
    settings = load_settings(DEFAULT, env)
    assert settings.auth.secret is None
    assert len(settings.auth.jwks) == 1


def test_interpolation_forms() -> None:
    text = "log_level: ${LEVEL:-debug}\nshutdown_grace_seconds: ${GRACE}\n" + DEFAULT.replace(
        "log_level: ${LOG_LEVEL:-info}\nshutdown_grace_seconds: 10\n", ""
    )
    settings = load_settings(text, gateway_env(GRACE="2.5"))
    assert settings.log_level == "debug"
    assert settings.shutdown_grace_seconds == 2.5
    required = text.replace("${LEVEL:-debug}", "${LEVEL:?set LEVEL please}")
    assert "log_level: environment variable LEVEL is not set: set LEVEL please" in problems(
        required, gateway_env(GRACE="1")
    )


def test_a_variable_cannot_add_structure() -> None:
    env = gateway_env(LOG_LEVEL="info\nextra: 1")
    assert any(item.startswith("log_level:") for item in problems(DEFAULT, env))


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "ten", "1e999"])
def test_numbers_must_be_finite(value: str) -> None:
    text = DEFAULT.replace("shutdown_grace_seconds: 10", "shutdown_grace_seconds: ${GRACE}")
    found = problems(text, gateway_env(GRACE=value))
    assert found == [f"shutdown_grace_seconds: Input should be a valid number, got '{value}'"]


def test_literal_strings_are_not_coerced() -> None:
    text = edited(lambda config: config["listen"].update(port="8080"))
    assert "listen.port: Input should be a valid integer, got '8080'" in problems(
        text, gateway_env()
    )


def test_every_problem_is_collected_with_its_path() -> None:
    def break_things(config: dict[str, Any]) -> None:
        config["listen"]["colour"] = "red"
        config["limits"]["max_body_bytes"] = -1
        config["cors"]["allow_methods"] = ["GET", "FETCH"]
        config["routes"][3]["methods"] = ["FETCH"]
        config["routes"][3]["bindings"] = {"tenant": "user"}
        config["routes"].append({"path": "/x/../y", "upstream": "backend"})
        config["auth"]["jwks"] = [{"name": "a", "url": "ftp://x", "algorithms": ["HS256"]}]
        config["trusted_proxies"] = ["10.0.0.0/8", "not-an-ip"]

    found = problems(edited(break_things), gateway_env())
    for expected in (
        "listen.colour: unknown key",
        "limits.max_body_bytes: Input should be greater than or equal to 0, got -1",
        f"cors.allow_methods[1]: {NOT_A_METHOD}",
        f"routes[3].methods[0]: {NOT_A_METHOD}",
        "routes[3].bindings.tenant: the path has no parameter {tenant}",
        "routes[5].path: bad literal segment '..'",
        "auth.jwks[0].url: expected an http(s) URL",
        "auth.jwks[0].algorithms[0]: Input should be 'EdDSA', 'ES256', 'ES512', 'RS256' or "
        "'PS256', got 'HS256'",
        "trusted_proxies[1]: not an IP address or CIDR: 'not-an-ip'",
    ):
        assert any(item.startswith(expected) for item in found), (expected, found)


def test_route_needs_exactly_one_target() -> None:
    def both(config: dict[str, Any]) -> None:
        config["routes"][0]["upstream"] = "backend"

    assert "routes[0]: needs exactly one of `upstream` or `respond`" in problems(
        edited(both), gateway_env()
    )


def test_not_yaml_is_one_line_naming_file_line_and_column() -> None:
    text = DEFAULT.replace("  port: ${GATEWAY_PORT:-8080}", "  port: @8080")
    with pytest.raises(ConfigError) as caught:
        load_settings(text, gateway_env(), source="conf/gateway.yaml")
    [line] = caught.value.problems  # and no follow-on `unknown upstream` or `no key source`
    assert line.startswith("conf/gateway.yaml:8:9: not valid YAML: ")


def test_secrets_never_appear_in_problems() -> None:
    env = gateway_env(GATEWAY_IDENTITY_SECRET=TOKEN_SECRET)
    found = problems(DEFAULT, env)
    assert found == ["identity.secret_env: must differ from the token secret"]
    assert TOKEN_SECRET not in repr(found)
    settings = load_settings(DEFAULT, gateway_env())
    for shown in (repr(settings), repr(settings.auth.secret), str(settings)):
        assert IDENTITY_SECRET not in shown
        assert TOKEN_SECRET not in shown


@pytest.mark.parametrize(
    ("change", "only_problem"),
    [
        # Routes and readiness name `backend`, which is declared: no `unknown upstream` too.
        ({"BACKEND_URL": "nonsense"}, "upstreams.backend.url: expected an http(s) URL"),
        # The secret is set but unusable: that is the problem, not `no key source`.
        ({"BETTER_AUTH_SECRET": "too-short"}, "auth.secret.env: BETTER_AUTH_SECRET must be"),
        ({"GATEWAY_PORT": "eighty"}, "listen.port: Input should be a valid integer, got 'eighty'"),
    ],
)
def test_one_line_per_root_cause(change: dict[str, str], only_problem: str) -> None:
    [line] = problems(DEFAULT, gateway_env(**change))
    assert line.startswith(only_problem)


def test_a_broken_upstream_hides_no_undeclared_one() -> None:
    def change(config: dict[str, Any]) -> None:
        config["upstreams"]["backend"]["url"] = "ftp://backend"
        config["routes"][2]["upstream"] = "nowhere"

    assert problems(edited(change), gateway_env()) == [
        "upstreams.backend.url: expected an http(s) URL, got 'ftp://backend'",
        "routes[2].upstream: unknown upstream 'nowhere'",
    ]


def test_a_switched_off_section_is_not_validated() -> None:
    def change(config: dict[str, Any]) -> None:
        config["upstreams"]["better_auth"]["colour"] = "red"
        config["auth"]["jwks"][0]["url"] = "not a url"

    settings = load_settings(edited(change), gateway_env())
    assert [upstream.name for upstream in settings.upstreams] == ["backend"]
    assert settings.auth.jwks == ()
    with pytest.raises(ConfigError) as caught:
        load_settings(edited(change), gateway_env(BETTER_AUTH_URL="https://auth.example"))
    assert caught.value.problems == [
        "auth.jwks[0].url: expected an http(s) URL, got 'not a url'",
        "upstreams.better_auth.colour: unknown key",
    ]


@pytest.mark.parametrize("location", [{"file": "jwks.json"}, {"url": None}])
def test_a_jwks_source_needs_exactly_one_location(location: dict[str, Any]) -> None:
    text = edited(lambda config: config["auth"]["jwks"][0].update(location))
    env = gateway_env(BETTER_AUTH_URL="https://auth.example")
    assert problems(text, env) == ["auth.jwks[0]: needs exactly one of `url` or `file`"]


def test_unnamed_routes_and_key_sources_are_named_by_what_they_point_to() -> None:
    def change(config: dict[str, Any]) -> None:
        del config["routes"][3]["name"]
        del config["auth"]["jwks"][0]["name"]

    settings = load_settings(edited(change), gateway_env(BETTER_AUTH_URL="https://auth.example"))
    assert settings.routes[3].name == "/api/{user_id}/tasks"
    assert settings.auth.jwks[0].name == "https://auth.example/api/auth/jwks"
