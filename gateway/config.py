"""The gateway's settings: `gateway.yaml` (with `${VAR}` interpolation) into frozen objects.

Every problem is collected with its YAML path and reported together (`ConfigError.problems`),
so `python -m gateway --check` can list them all at once.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from yarl import URL

from gateway.auth.settings import AuthSettings
from gateway.config_auth import read_auth
from gateway.config_routes import RouteSettings as RouteSettings
from gateway.config_routes import UpstreamSettings, read_methods, read_routes, read_upstreams
from gateway.yamlenv import Problems, Reader, load_yaml
from service_plumbing.logs import LOG_LEVELS

IDENTITY_SECRET_ENV = "GATEWAY_IDENTITY_SECRET"  # noqa: S105 (a variable name)
MIN_SECRET_BYTES = 32
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n" + "\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class ListenSettings:
    host: str = "0.0.0.0"  # noqa: S104 - a gateway listens for the world by design
    port: int = 8080


@dataclass(frozen=True, slots=True)
class LimitSettings:
    max_body_bytes: int = 1024 * 1024
    # Above aiohttp's 8190 default so a long token reaches our code and gets a JSON 401.
    max_header_bytes: int = 65536
    max_request_line_bytes: int = 16384
    max_headers: int = 128


@dataclass(frozen=True, slots=True)
class CorsSettings:
    allow_origins: tuple[str, ...] = ("http://localhost:3000",)
    allow_methods: tuple[str, ...] = ("GET", "POST", "PUT", "PATCH", "DELETE")
    allow_headers: tuple[str, ...] = ("Authorization", "Content-Type", "X-Request-ID")
    expose_headers: tuple[str, ...] = ("X-Request-ID",)
    allow_credentials: bool = True
    max_age_seconds: int = 600


@dataclass(frozen=True, slots=True)
class ReadinessSettings:
    upstream: str = "backend"
    path: str = "/healthz"
    timeout_seconds: float = 2.0


@dataclass(frozen=True, slots=True)
class PoolSettings:
    max_connections: int = 1024
    keepalive_timeout_seconds: float = 30.0


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    identity_secret: bytes = field(repr=False)
    auth: AuthSettings = field(repr=False)
    upstreams: tuple[UpstreamSettings, ...]
    routes: tuple[RouteSettings, ...]
    listen: ListenSettings = ListenSettings()
    log_level: str = "info"
    shutdown_grace_seconds: float = 10.0
    limits: LimitSettings = LimitSettings()
    trusted_proxies: tuple[Network, ...] = ()
    cors: CorsSettings = CorsSettings()
    readiness: ReadinessSettings = ReadinessSettings()
    pool: PoolSettings = PoolSettings()

    def upstream(self, name: str) -> UpstreamSettings:
        for upstream in self.upstreams:
            if upstream.name == name:
                return upstream
        raise KeyError(name)


def load_settings_file(path: Path, env: Mapping[str, str]) -> GatewaySettings:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError([f"cannot read {path}: {error.strerror}"]) from None
    return load_settings(text, env)


def load_settings(text: str, env: Mapping[str, str]) -> GatewaySettings:
    """Parse, interpolate and validate; raise `ConfigError` listing every problem."""
    problems = Problems()
    root = Reader(load_yaml(text, env, problems), "", problems)
    settings = _read_root(root, env)
    root.finish()
    if problems.items:
        raise ConfigError(problems.items)
    return settings


def _read_root(root: Reader, env: Mapping[str, str]) -> GatewaySettings:
    upstreams, disabled = read_upstreams(root, env)
    routes = read_routes(root, {u.name for u in upstreams}, disabled)
    readiness = _read_readiness(root.child("readiness"), {u.name for u in upstreams})
    auth = read_auth(root.child("auth"), env)
    return GatewaySettings(
        identity_secret=_identity_secret(root, env, auth),
        auth=auth,
        upstreams=upstreams,
        routes=routes,
        listen=_read_listen(root.child("listen")),
        log_level=_read_log_level(root),
        shutdown_grace_seconds=root.number("shutdown_grace_seconds", 10.0),
        limits=_read_limits(root.child("limits")),
        trusted_proxies=_read_networks(root),
        cors=_read_cors(root.child("cors")),
        readiness=readiness,
        pool=_read_pool(root.child("connection_pool")),
    )


def _identity_secret(root: Reader, env: Mapping[str, str], auth: AuthSettings) -> bytes:
    identity = root.child("identity")
    name = identity.string("secret_env", IDENTITY_SECRET_ENV)
    identity.finish()
    secret = env.get(name, "").encode("utf-8")
    if not secret:
        root.problems.add(identity.at("secret_env"), f"environment variable {name} is not set")
    elif len(secret) < MIN_SECRET_BYTES:
        root.problems.add(
            identity.at("secret_env"),
            f"{name} must be at least {MIN_SECRET_BYTES} bytes, got {len(secret)}",
        )
    elif auth.secret is not None and hmac.compare_digest(secret, auth.secret.secret):
        root.problems.add(identity.at("secret_env"), f"{name} must differ from the token secret")
    return secret


def _read_listen(node: Reader) -> ListenSettings:
    defaults = ListenSettings()
    result = ListenSettings(
        host=node.string("host", defaults.host),
        port=node.integer("port", defaults.port),
    )
    if result.port > 65535:
        node.problems.add(node.at("port"), f"not a TCP port: {result.port}")
    node.finish()
    return result


def _read_log_level(root: Reader) -> str:
    level = root.string("log_level", "info").lower()
    if level not in LOG_LEVELS:
        root.problems.add("log_level", f"must be one of {', '.join(LOG_LEVELS)}, not {level!r}")
        return "info"
    return level


def _read_limits(node: Reader) -> LimitSettings:
    defaults = LimitSettings()
    result = LimitSettings(
        max_body_bytes=node.integer("max_body_bytes", defaults.max_body_bytes),
        max_header_bytes=node.integer("max_header_bytes", defaults.max_header_bytes, minimum=1024),
        max_request_line_bytes=node.integer(
            "max_request_line_bytes", defaults.max_request_line_bytes, minimum=1024
        ),
        max_headers=node.integer("max_headers", defaults.max_headers, minimum=16),
    )
    node.finish()
    return result


def _read_networks(root: Reader) -> tuple[Network, ...]:
    networks: list[Network] = []
    for index, text in enumerate(root.strings("trusted_proxies", ())):
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            root.problems.add(f"trusted_proxies[{index}]", f"not an IP address or CIDR: {text!r}")
    return tuple(networks)


def _read_cors(node: Reader) -> CorsSettings:
    defaults = CorsSettings()
    origins = node.strings("allow_origins", defaults.allow_origins)
    for index, origin in enumerate(origins):
        url = URL(origin)
        if origin == "*" or url.scheme not in ("http", "https") or not url.host or url.path > "/":
            node.problems.add(f"{node.at('allow_origins')}[{index}]", f"not an origin: {origin!r}")
    result = CorsSettings(
        allow_origins=origins,
        allow_methods=read_methods(node, "allow_methods", defaults.allow_methods),
        allow_headers=node.strings("allow_headers", defaults.allow_headers),
        expose_headers=node.strings("expose_headers", defaults.expose_headers),
        allow_credentials=node.boolean("allow_credentials", defaults.allow_credentials),
        max_age_seconds=node.integer("max_age_seconds", defaults.max_age_seconds),
    )
    node.finish()
    return result


def _read_pool(node: Reader) -> PoolSettings:
    defaults = PoolSettings()
    result = PoolSettings(
        max_connections=node.integer("max_connections", defaults.max_connections),
        keepalive_timeout_seconds=node.number(
            "keepalive_timeout_seconds", defaults.keepalive_timeout_seconds
        ),
    )
    node.finish()
    return result


def _read_readiness(node: Reader, upstreams: set[str]) -> ReadinessSettings:
    defaults = ReadinessSettings()
    result = ReadinessSettings(
        upstream=node.string("upstream", defaults.upstream),
        path=node.string("path", defaults.path),
        timeout_seconds=node.number("timeout_seconds", defaults.timeout_seconds),
    )
    if result.upstream not in upstreams:
        node.problems.add(node.at("upstream"), f"unknown upstream {result.upstream!r}")
    if not result.path.startswith("/"):
        node.problems.add(node.at("path"), 'must start with "/"')
    node.finish()
    return result
