"""The gateway's settings: `gateway.yaml` (with `${VAR}` interpolation) into frozen models.

Each section is one model class and one field of `GatewaySettings`. Every problem is reported
with its YAML path, once per root cause (`ConfigError.problems`), so `python -m gateway
--check` can list them all: a reference to something declared but broken is not a second one.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from yarl import URL

from gateway.auth.settings import TOKEN_SECRET_ENV, AuthSettings
from gateway.logs import LOG_LEVELS
from gateway.path_template import parse_template
from gateway.yamlenv import (
    Bool,
    ConfigError,
    DropSwitchedOff,
    EnvSecret,
    Float,
    HttpUrl,
    Int,
    ListFromEnv,
    Section,
    Strings,
    Switchable,
    describe,
    load_yaml,
)

__all__ = ["ConfigError", "GatewaySettings", "RouteSettings", "load_settings"]

IDENTITY_SECRET_ENV = "GATEWAY_IDENTITY_SECRET"  # noqa: S105 (a variable name)
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _method(value: Any) -> Any:
    if isinstance(value, str) and value.upper() not in METHODS:
        raise ValueError(f'unknown method "{value}"')
    return value.upper() if isinstance(value, str) else value


def _origin(text: str) -> str:
    url = URL(text)
    if text == "*" or url.scheme not in ("http", "https") or not url.host or url.path > "/":
        raise ValueError(f"not an origin: {text!r}")
    return text


def _network(value: Any) -> Network:
    try:
        return ipaddress.ip_network(value if isinstance(value, str) else "", strict=False)
    except ValueError:
        raise ValueError(f"not an IP address or CIDR: {value!r}") from None


def _upstream_url(text: str) -> str:
    url = URL(text)
    if url.query_string or url.fragment:
        raise ValueError(f"expected an http(s) URL, got {text!r}")
    return str(url).rstrip("/")


def _log_level(value: Any) -> Any:
    if isinstance(value, str) and value.lower() not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}, not {value!r}")
    return value.lower() if isinstance(value, str) else value


def _absolute(path: str) -> str:
    if not path.startswith("/"):
        raise ValueError('must start with "/"')
    return path


def _bindings(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    for param, claim in value.items():
        if not isinstance(claim, str) or not claim:
            raise ValueError(f".{param}: expected a claim name or `user`")
    return tuple((str(param), claim) for param, claim in value.items())


Methods = Annotated[tuple[Annotated[str, BeforeValidator(_method)], ...], ListFromEnv]


class ListenSettings(Section):
    host: str = "0.0.0.0"  # noqa: S104 - a gateway listens for the world by design
    port: Annotated[Int, Field(le=65535)] = 8080


class LimitSettings(Section):
    max_body_bytes: Int = 1024 * 1024
    # Above aiohttp's 8190 default so a long token reaches our code and gets a JSON 401.
    max_header_bytes: Annotated[Int, Field(ge=1024)] = 65536
    max_request_line_bytes: Annotated[Int, Field(ge=1024)] = 16384
    max_headers: Annotated[Int, Field(ge=16)] = 128


class CorsSettings(Section):
    allow_origins: Annotated[tuple[Annotated[str, AfterValidator(_origin)], ...], ListFromEnv] = (
        "http://localhost:3000",
    )
    allow_methods: Methods = ("GET", "POST", "PUT", "PATCH", "DELETE")
    allow_headers: Strings = ("Authorization", "Content-Type", "X-Request-ID")
    expose_headers: Strings = ("X-Request-ID",)
    allow_credentials: Bool = True
    max_age_seconds: Int = 600


class ReadinessSettings(Section):
    upstream: str = "backend"
    path: Annotated[str, AfterValidator(_absolute)] = "/healthz"
    timeout_seconds: Float = 2.0


class PoolSettings(Section):
    max_connections: Int = 1024
    keepalive_timeout_seconds: Float = 30.0


class IdentitySettings(Section):
    secret: EnvSecret = Field(
        IDENTITY_SECRET_ENV, validation_alias="secret_env", validate_default=True, repr=False
    )


class UpstreamSettings(Switchable):
    name: str
    url: Annotated[HttpUrl, AfterValidator(_upstream_url)]  # no trailing slash
    connect_timeout_seconds: Float = 5.0
    read_timeout_seconds: Float = 30.0


class RouteSettings(Section):
    name: str
    path: str
    methods: Methods = ()  # empty: every method
    auth: Literal["public", "required"] = "required"
    upstream: str | None = None
    respond: Literal["healthz", "readyz"] | None = None
    bindings: Annotated[tuple[tuple[str, str], ...], BeforeValidator(_bindings)] = ()
    forward_authorization: Bool = False

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = {"auth": "public" if data.get("respond") else "required", **data}
            data.setdefault("forward_authorization", data["auth"] == "public")
        return data

    @field_validator("path")
    @classmethod
    def _template(cls, path: str) -> str:
        parse_template(path)
        return path

    @field_validator("upstream")
    @classmethod
    def _declared(cls, upstream: str | None, info: ValidationInfo) -> str | None:
        declared = (info.context or {}).get("upstreams")
        if upstream is not None and declared is not None and upstream not in declared:
            raise ValueError(f"unknown upstream {upstream!r}")
        return upstream

    @field_validator("bindings")
    @classmethod
    def _bound_params(
        cls, bindings: tuple[tuple[str, str], ...], info: ValidationInfo
    ) -> tuple[tuple[str, str], ...]:
        if bindings and info.data.get("auth") == "public":
            raise ValueError("bindings need `auth: required`")
        params = parse_template(info.data["path"]).params if "path" in info.data else None
        for param, _ in bindings:
            if params is not None and param not in params:
                raise ValueError(f".{param}: the path has no parameter {{{param}}}")
        return bindings

    @model_validator(mode="after")
    def _one_target(self) -> RouteSettings:
        if (self.upstream is None) == (self.respond is None):
            raise ValueError("needs exactly one of `upstream` or `respond`")
        return self


def _named_by_key(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    return {
        name: {**item, "name": name} if isinstance(item, dict) else item
        for name, item in value.items()
    }


def _named_by_path(value: Any) -> Any:
    if not isinstance(value, list):
        return value
    return [
        {"name": f"routes[{i}]", **item} if isinstance(item, dict) else item
        for i, item in enumerate(value)
    ]


class GatewaySettings(Section):
    listen: ListenSettings = ListenSettings()
    log_level: Annotated[str, BeforeValidator(_log_level)] = "info"
    shutdown_grace_seconds: Float = 10.0
    limits: LimitSettings = LimitSettings()
    trusted_proxies: Annotated[
        tuple[Annotated[Network, PlainValidator(_network)], ...], ListFromEnv
    ] = ()
    auth: AuthSettings = Field(default_factory=AuthSettings, validate_default=True)
    identity: IdentitySettings = Field(default_factory=dict, validate_default=True)
    cors: CorsSettings = CorsSettings()
    # By name, in order; a switched-off upstream is left out, and so are the routes to it.
    upstream_table: Annotated[
        dict[str, UpstreamSettings], BeforeValidator(_named_by_key), DropSwitchedOff
    ] = Field(default_factory=dict, validation_alias="upstreams")
    readiness: ReadinessSettings = ReadinessSettings()
    pool: PoolSettings = Field(PoolSettings(), validation_alias="connection_pool")
    routes: Annotated[tuple[RouteSettings, ...], BeforeValidator(_named_by_path)] = Field(
        (), validate_default=True
    )

    @property
    def identity_secret(self) -> bytes:
        return self.identity.secret

    @property
    def upstreams(self) -> tuple[UpstreamSettings, ...]:
        return tuple(self.upstream_table.values())

    def upstream(self, name: str) -> UpstreamSettings:
        return self.upstream_table[name]

    @model_validator(mode="before")
    @classmethod
    def _declared_upstreams(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict) and isinstance(info.context, dict):
            upstreams = data.get("upstreams")
            info.context["upstreams"] = set(upstreams) if isinstance(upstreams, dict) else set()
        return data

    @field_validator("auth")
    @classmethod
    def _has_key_source(cls, auth: AuthSettings) -> AuthSettings:
        if auth.secret is None and not auth.jwks:
            raise ValueError(
                f"no key source: set {TOKEN_SECRET_ENV} (HS256 tokens) "
                "or BETTER_AUTH_URL (a JWKS), or configure one"
            )
        return auth

    @field_validator("identity", mode="wrap")
    @classmethod
    def _not_the_token_secret(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> IdentitySettings:
        identity: IdentitySettings = handler(value)
        token = getattr(info.data.get("auth"), "secret", None)
        if token is not None and hmac.compare_digest(identity.secret, token.secret):
            name = value.get("secret_env") if isinstance(value, dict) else None
            raise ValueError(
                f".secret_env: {name or IDENTITY_SECRET_ENV} must differ from the token secret"
            )
        return identity

    @field_validator("readiness")
    @classmethod
    def _probes_an_upstream(
        cls, readiness: ReadinessSettings, info: ValidationInfo
    ) -> ReadinessSettings:
        upstreams = info.data.get("upstream_table")
        if upstreams is not None and readiness.upstream not in upstreams:
            raise ValueError(f".upstream: unknown upstream {readiness.upstream!r}")
        return readiness

    @field_validator("routes")
    @classmethod
    def _switched_on(
        cls, routes: tuple[RouteSettings, ...], info: ValidationInfo
    ) -> tuple[RouteSettings, ...]:
        upstreams = info.data.get("upstream_table", {})
        routes = tuple(r for r in routes if r.upstream is None or r.upstream in upstreams)
        if not routes:
            raise ValueError("no routes are configured")
        return routes


def load_settings_file(path: Path, env: Mapping[str, str]) -> GatewaySettings:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError([f"cannot read {path}: {error.strerror}"]) from None
    return load_settings(text, env, source=str(path))


def load_settings(
    text: str, env: Mapping[str, str], *, source: str = "gateway.yaml"
) -> GatewaySettings:
    """Parse, interpolate and validate; raise `ConfigError` listing every problem."""
    document, problems = load_yaml(text, env, source)
    try:
        settings = GatewaySettings.model_validate(document or {}, context={"env": env})
    except ValidationError as error:
        problems += [describe(item) for item in error.errors(include_url=False)]
    if problems:
        raise ConfigError(problems)
    return settings
