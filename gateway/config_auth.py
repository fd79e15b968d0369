"""The `auth:` section of gateway.yaml into `AuthSettings` (key sources, leeway, claims).

Secrets never live in the YAML: `auth.secret.env` names the variable that holds the HMAC
secret, so errors can name it too. A key source whose variable is unset is switched off; at
least one source must remain.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from yarl import URL

from gateway.auth.settings import (
    ASYMMETRIC_ALGORITHMS,
    HMAC_ALGORITHMS,
    AuthSettings,
    JwksKeySource,
    SecretKeySource,
)
from gateway.yamlenv import Reader

TOKEN_SECRET_ENV = "BETTER_AUTH_SECRET"  # noqa: S105 (a variable name)
MIN_TOKEN_SECRET_BYTES = 32
_JWKS_INTERVALS = (
    "refresh_interval_seconds",
    "min_refresh_interval_seconds",
    "max_refresh_interval_seconds",
    "unknown_kid_refetch_interval_seconds",
    "fetch_timeout_seconds",
)


def read_auth(node: Reader, env: Mapping[str, str]) -> AuthSettings:
    defaults = AuthSettings()
    secret = _read_secret(node.child("secret"), env) if node.has("secret") else None
    node.seen.add("secret")
    jwks = tuple(
        source
        for path, item in node.items("jwks")
        if (source := _read_jwks(Reader(item, path, node.problems), env)) is not None
    )
    settings = AuthSettings(
        secret=secret,
        jwks=jwks,
        leeway_seconds=node.number("leeway_seconds", defaults.leeway_seconds),
        user_claim=node.string("user_claim", defaults.user_claim),
        max_token_bytes=node.integer("max_token_bytes", defaults.max_token_bytes, minimum=256),
        cache_max_entries=node.integer("cache_max_entries", defaults.cache_max_entries),
        cache_ttl_seconds=node.number("cache_ttl_seconds", defaults.cache_ttl_seconds),
    )
    node.finish()
    if secret is None and not jwks and not _has_secret_problem(node):
        node.problems.add(
            node.path,
            f"no key source: set {_secret_env_name(node)} (HS256 tokens) "
            "or BETTER_AUTH_URL (a JWKS), or configure one",
        )
    return settings


def _secret_env_name(node: Reader) -> str:
    secret = node.node.get("secret")
    name = secret.get("env") if isinstance(secret, dict) else None
    return name if isinstance(name, str) and name else TOKEN_SECRET_ENV


def _has_secret_problem(node: Reader) -> bool:
    return any(item.startswith(node.at("secret")) for item in node.problems.items)


def _read_secret(node: Reader, env: Mapping[str, str]) -> SecretKeySource | None:
    name = node.string("env", TOKEN_SECRET_ENV)
    algorithms = _algorithms(node, HMAC_ALGORITHMS)
    issuer = node.optional_string("issuer")
    audiences = node.strings("audiences", ())
    node.finish()
    secret = env.get(name, "").encode("utf-8")
    if not secret:
        return None
    if len(secret) < MIN_TOKEN_SECRET_BYTES:
        node.problems.add(
            node.at("env"),
            f"{name} must be at least {MIN_TOKEN_SECRET_BYTES} bytes, got {len(secret)}",
        )
        return None
    return SecretKeySource(secret, algorithms, issuer, audiences)


def _read_jwks(node: Reader, env: Mapping[str, str]) -> JwksKeySource | None:
    gate = node.optional_string("enabled_when_set")
    if gate is not None and not env.get(gate, ""):
        node.seen.update(node.node)  # switched off: its values need not be valid
        return None
    defaults = JwksKeySource(name="")
    url, file = node.optional_string("url"), node.optional_string("file")
    source = JwksKeySource(
        name=node.string("name", node.path),
        url=url,
        file=Path(file) if file else None,
        algorithms=_algorithms(node, ASYMMETRIC_ALGORITHMS),
        issuer=node.optional_string("issuer"),
        audiences=node.strings("audiences", ()),
        **{key: node.number(key, getattr(defaults, key)) for key in _JWKS_INTERVALS},
    )
    node.finish()
    if (url is None) == (file is None):
        node.problems.add(node.path, "needs exactly one of `url` or `file`")
    elif url is not None and (URL(url).scheme not in ("http", "https") or not URL(url).host):
        node.problems.add(node.at("url"), f"expected an http(s) URL, got {url!r}")
    return source


def _algorithms(node: Reader, allowed: tuple[str, ...]) -> tuple[str, ...]:
    algorithms = node.strings("algorithms", allowed)
    for index, algorithm in enumerate(algorithms):
        if algorithm not in allowed:
            node.problems.add(
                f"{node.at('algorithms')}[{index}]",
                f"{algorithm!r} is not one of {', '.join(allowed)}",
            )
    return algorithms
