"""Typed, frozen settings of token verification: the `auth:` section of gateway.yaml.

Secrets never live in the YAML: `auth.secret.env` names the variable that holds the HMAC
secret. A key source whose variable is unset is switched off; at least one must remain.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    Field,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from gateway.yamlenv import (
    DropSwitchedOff,
    EnvSecret,
    Float,
    HttpUrl,
    Int,
    ListFromEnv,
    Section,
    Strings,
    Switchable,
    env_of,
)

TOKEN_SECRET_ENV = "BETTER_AUTH_SECRET"  # noqa: S105 (a variable name)
HmacAlgorithm = Literal["HS256", "HS384", "HS512"]
AsymmetricAlgorithm = Literal["EdDSA", "ES256", "ES512", "RS256", "PS256"]
HMAC_ALGORITHMS: tuple[HmacAlgorithm, ...] = get_args(HmacAlgorithm)
ASYMMETRIC_ALGORITHMS: tuple[AsymmetricAlgorithm, ...] = get_args(AsymmetricAlgorithm)


class SecretKeySource(Section):
    """The shared-secret mode: HS* tokens signed with `BETTER_AUTH_SECRET`."""

    # In gateway.yaml `env:` names the variable; the secret is read from it.
    secret: EnvSecret = Field(
        TOKEN_SECRET_ENV, validation_alias="env", validate_default=True, repr=False
    )
    algorithms: Annotated[tuple[HmacAlgorithm, ...], ListFromEnv] = HMAC_ALGORITHMS
    issuer: str | None = None
    audiences: Strings = ()


class JwksKeySource(Switchable):
    """Asymmetric keys from a JWKS, remote (`url`) or on disk (`file`): exactly one is set."""

    name: str
    url: HttpUrl | None = None
    file: Path | None = None
    algorithms: Annotated[tuple[AsymmetricAlgorithm, ...], ListFromEnv] = ASYMMETRIC_ALGORITHMS
    issuer: str | None = None
    audiences: Strings = ()
    refresh_interval_seconds: Float = 300.0
    # Bounds applied to a server's `Cache-Control: max-age`.
    min_refresh_interval_seconds: Float = 30.0
    max_refresh_interval_seconds: Float = 3600.0
    # An unknown `kid` triggers a re-fetch at most this often.
    unknown_kid_refetch_interval_seconds: Float = 10.0
    fetch_timeout_seconds: Float = 5.0

    @model_validator(mode="wrap")
    @classmethod
    def _one_location(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        source = handler(data)  # None when switched off
        if isinstance(data, dict) and source and (source.url is None) == (source.file is None):
            raise ValueError("needs exactly one of `url` or `file`")
        return source


class AuthSettings(Section):
    secret: SecretKeySource | None = None
    jwks: Annotated[tuple[JwksKeySource, ...], DropSwitchedOff] = ()
    leeway_seconds: Float = 30.0
    user_claim: str = "sub"
    max_token_bytes: Annotated[Int, Field(ge=256)] = 8192
    cache_max_entries: Int = 10_000
    cache_ttl_seconds: Float = 300.0

    @field_validator("secret", mode="before")
    @classmethod
    def _off_while_unset(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, dict) and not env_of(info).get(
            str(value.get("env", TOKEN_SECRET_ENV))
        ):
            return None
        return value

    @field_validator("jwks", mode="before")
    @classmethod
    def _named_by_path(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        return [
            {"name": f"auth.jwks[{index}]", **item} if isinstance(item, dict) else item
            for index, item in enumerate(value)
        ]
