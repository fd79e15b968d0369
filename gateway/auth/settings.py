"""Typed, frozen settings of token verification. `gateway/config.py` builds them from YAML."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
ASYMMETRIC_ALGORITHMS = ("EdDSA", "ES256", "ES512", "RS256", "PS256")


@dataclass(frozen=True, slots=True)
class SecretKeySource:
    """The shared-secret mode: HS* tokens signed with `BETTER_AUTH_SECRET`."""

    secret: bytes
    algorithms: tuple[str, ...] = HMAC_ALGORITHMS
    issuer: str | None = None
    audiences: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class JwksKeySource:
    """Asymmetric keys from a JWKS, remote (`url`) or on disk (`file`): exactly one is set."""

    name: str
    url: str | None = None
    file: Path | None = None
    algorithms: tuple[str, ...] = ASYMMETRIC_ALGORITHMS
    issuer: str | None = None
    audiences: tuple[str, ...] = ()
    refresh_interval_seconds: float = 300.0
    # Bounds applied to a server's `Cache-Control: max-age`.
    min_refresh_interval_seconds: float = 30.0
    max_refresh_interval_seconds: float = 3600.0
    # An unknown `kid` triggers a re-fetch at most this often.
    unknown_kid_refetch_interval_seconds: float = 10.0
    fetch_timeout_seconds: float = 5.0


@dataclass(frozen=True, slots=True)
class AuthSettings:
    secret: SecretKeySource | None = None
    jwks: tuple[JwksKeySource, ...] = ()
    leeway_seconds: float = 30.0
    user_claim: str = "sub"
    max_token_bytes: int = 8192
    cache_max_entries: int = 10_000
    cache_ttl_seconds: float = 300.0
