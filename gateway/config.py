"""The gateway's settings: `gateway.yaml` into frozen models, one class per section; every
problem is reported by its YAML path, once per root cause (docs/configuration.md)."""

from __future__ import annotations

import functools
import hmac
import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    InstanceOf,
    ValidationInfo,
    field_validator,
)
from yarl import URL

from gateway import yamlenv
from gateway.auth.settings import TOKEN_SECRET_ENV, AuthSettings
from gateway.claim_rules import ClaimRule, parse_claim_rules
from gateway.path_template import parse_template
from gateway.ratelimit.settings import RateLimitSettings, RouteLimit
from gateway.yamlenv import ConfigError as ConfigError
from service_plumbing.logs import LOG_LEVELS

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _origin(value: str) -> str:
    url = URL(value)
    if value == "*" or url.scheme not in ("http", "https") or not url.host or url.path > "/":
        raise ValueError(f"not an origin: {value!r}")
    return value


def _network(value: Any) -> Any:  # host bits are allowed, as in 10.0.0.1/8
    try:
        return ipaddress.ip_network(value, strict=False) if isinstance(value, str) else value
    except ValueError:
        raise ValueError(f"not an IP address or CIDR: {value!r}") from None


def _log_level(value: str) -> str:
    if value.lower() not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}, got {value!r}")
    return value.lower()


def _base_url(url: str) -> str:  # scheme://host[:port][/prefix], no trailing slash
    if URL(url).query_string or URL(url).fragment:
        raise ValueError(f"expected an http(s) URL without query or fragment, got {url!r}")
    return str(URL(url)).rstrip("/")


_upper = BeforeValidator(lambda value: value.upper() if isinstance(value, str) else value)
Methods = yamlenv.ListFromEnv[Annotated[Method, _upper]]
Origins = yamlenv.ListFromEnv[Annotated[str, AfterValidator(_origin)]]
Networks = yamlenv.ListFromEnv[Annotated[Network, BeforeValidator(_network)]]


class ListenSettings(yamlenv.Section):
    host: str = "0.0.0.0"  # noqa: S104 - a gateway listens for the world by design
    port: Annotated[yamlenv.Int, Field(le=65535)] = 8080


class LimitSettings(yamlenv.Section):
    max_body_bytes: yamlenv.Int = 1024 * 1024
    # Above aiohttp's 8190 default so a long token reaches our code and gets a JSON 401.
    max_header_bytes: Annotated[yamlenv.Int, Field(ge=1024)] = 65536
    max_request_line_bytes: Annotated[yamlenv.Int, Field(ge=1024)] = 16384
    max_headers: Annotated[yamlenv.Int, Field(ge=16)] = 128
    # Slow clients: a request head must arrive, and a body keep moving, within these (408).
    head_timeout_seconds: yamlenv.Float = 10.0
    body_idle_timeout_seconds: yamlenv.Float = 10.0
    # A body up to this size is read whole before an upstream connection is taken.
    buffered_body_bytes: yamlenv.Int = 64 * 1024


class CorsSettings(yamlenv.Section):
    allow_origins: Origins = ("http://localhost:3000",)
    allow_methods: Methods = ("GET", "POST", "PUT", "PATCH", "DELETE")
    allow_headers: yamlenv.Strings = ("Authorization", "Content-Type", "X-Request-ID")
    expose_headers: yamlenv.Strings = ("X-Request-ID",)
    allow_credentials: yamlenv.Bool = True
    max_age_seconds: yamlenv.Int = 600


class ReadinessSettings(yamlenv.Section):
    upstream: str = "backend"
    path: str = Field(default="/healthz", pattern="^/")
    timeout_seconds: yamlenv.Float = 2.0


class PoolSettings(yamlenv.Section):
    max_connections: yamlenv.Int = 1024
    keepalive_timeout_seconds: yamlenv.Float = 30.0
    # How long a request may wait for a free upstream connection before a 503.
    wait_timeout_seconds: yamlenv.Float = 5.0


class IdentitySettings(yamlenv.Section):
    secret: yamlenv.EnvSecret = Field(
        "GATEWAY_IDENTITY_SECRET", validation_alias="secret_env", validate_default=True, repr=False
    )


class UpstreamSettings(yamlenv.Switchable):
    name: str
    url: Annotated[yamlenv.HttpUrl, AfterValidator(_base_url)]
    connect_timeout_seconds: yamlenv.Float = 5.0
    read_timeout_seconds: yamlenv.Float = 30.0


class RouteSettings(yamlenv.Section):
    name: str
    path: Annotated[str, AfterValidator(lambda path: parse_template(path) and path)]
    methods: Methods = ()  # empty: every method
    auth: Literal["public", "required"] = "required"
    upstream: str | None = None
    respond: Literal["healthz", "readyz"] | None = None
    bindings: tuple[tuple[str, str], ...] = ()
    forward_authorization: yamlenv.Bool = False
    claims: tuple[InstanceOf[ClaimRule], ...] = ()  # docs/claims-and-limits.md
    rate_limit: RouteLimit = None  # None: the `rate_limits:` defaults

    @pydantic.model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):  # `respond` routes are public, public ones forward the token
            data = {"name": str(data.get("path")), **data}
            data.setdefault("auth", "public" if data.get("respond") else "required")
            data.setdefault("forward_authorization", data["auth"] == "public")
        return data

    @field_validator("upstream")
    @classmethod
    def _declared(cls, upstream: str | None, info: ValidationInfo) -> str | None:
        if upstream not in (info.context or {}).get("upstreams", {upstream}):
            raise ValueError(f"unknown upstream {upstream!r}")
        return upstream

    @field_validator("bindings", mode="before")
    @classmethod
    def _bound(cls, bindings: Any, info: ValidationInfo) -> Any:
        if not isinstance(bindings, dict) or not bindings:
            return bindings
        if info.data.get("auth") == "public":
            raise ValueError("bindings need `auth: required`")
        params = parse_template(info.data["path"]).params if "path" in info.data else bindings
        for param, claim in bindings.items():
            if not isinstance(claim, str) or not claim:
                raise ValueError(f".{param}: expected a claim name or `user`")
            if param not in params:
                raise ValueError(f".{param}: the path has no parameter {{{param}}}")
        return tuple(bindings.items())

    @field_validator("claims", mode="before")
    @classmethod
    def _claim_rules(cls, rules: Any, info: ValidationInfo) -> Any:
        if not rules:
            return ()
        if info.data.get("auth") == "public":
            raise ValueError("claim rules need `auth: required`")
        params = parse_template(info.data["path"]).params if "path" in info.data else ()
        return parse_claim_rules(rules, params)

    @pydantic.model_validator(mode="after")
    def _one_target(self) -> RouteSettings:
        if (self.upstream is None) == (self.respond is None):
            raise ValueError("needs exactly one of `upstream` or `respond`")
        if self.rate_limit is not None and self.upstream is None:
            raise ValueError(".rate_limit: only routes with an `upstream` are rate limited")
        return self


class GatewaySettings(yamlenv.Section):
    listen: ListenSettings = ListenSettings()
    log_level: Annotated[str, AfterValidator(_log_level)] = "info"
    shutdown_grace_seconds: yamlenv.Float = 10.0
    limits: LimitSettings = LimitSettings()
    trusted_proxies: Networks = ()
    auth: AuthSettings = AuthSettings()
    identity: IdentitySettings = Field(default_factory=dict, validate_default=True)
    cors: CorsSettings = CorsSettings()
    # By name, in order; a switched-off upstream is left out, and so are the routes to it.
    upstream_table: Annotated[dict[str, UpstreamSettings], yamlenv.DropSwitchedOff] = Field(
        default_factory=dict, validation_alias="upstreams", validate_default=True
    )
    readiness: ReadinessSettings = ReadinessSettings()
    pool: PoolSettings = Field(default=PoolSettings(), validation_alias="connection_pool")
    routes: tuple[RouteSettings, ...] = ()
    rate_limits: RateLimitSettings = Field(default_factory=dict, validate_default=True)

    @property
    def identity_secret(self) -> bytes:
        return self.identity.secret

    @property
    def upstreams(self) -> tuple[UpstreamSettings, ...]:
        return tuple(self.upstream_table.values())

    def upstream(self, name: str) -> UpstreamSettings:
        return self.upstream_table[name]

    @field_validator("upstream_table", mode="before")
    @classmethod
    def _named(cls, table: Any, info: ValidationInfo) -> Any:
        if not isinstance(table, dict):
            return table
        if isinstance(info.context, dict):  # declared ones, even if broken or switched off
            info.context["upstreams"] = set(table)
        return {key: {**v, "name": key} if isinstance(v, dict) else v for key, v in table.items()}

    @field_validator("routes")
    @classmethod
    def _to_switched_on(cls, routes: tuple[RouteSettings, ...], info: ValidationInfo) -> Any:
        upstreams = info.data.get("upstream_table", {})
        return tuple(route for route in routes if route.upstream in (None, *upstreams))

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> GatewaySettings:
        """Rules across sections, checked once every section is valid on its own."""
        token = self.auth.secret
        if token is None and not self.auth.jwks:
            raise ValueError(f"auth: no key source: set {TOKEN_SECRET_ENV} or BETTER_AUTH_URL")
        if token is not None and hmac.compare_digest(token.secret, self.identity_secret):
            raise ValueError("identity.secret_env: must differ from the token secret")
        if self.readiness.upstream not in self.upstream_table:
            raise ValueError(f"readiness.upstream: unknown upstream {self.readiness.upstream!r}")
        if not self.routes:
            raise ValueError("routes: no routes are configured")
        return self


load_settings = functools.partial(yamlenv.load, GatewaySettings)


def load_settings_file(path: Path, env: Mapping[str, str]) -> GatewaySettings:
    try:
        return load_settings(path.read_text(encoding="utf-8"), env, source=str(path))
    except OSError as error:
        raise ConfigError([f"cannot read {path}: {error.strerror}"]) from None
