"""The `auth:` section of gateway.yaml, typed and frozen. Secrets never live in the YAML:
`auth.secret.env` names the variable holding the HMAC secret; unset, that source is off."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from gateway import yamlenv

TOKEN_SECRET_ENV = "BETTER_AUTH_SECRET"  # noqa: S105 (a variable name)
HmacAlgorithms = yamlenv.ListFromEnv[Literal["HS256", "HS384", "HS512"]]
AsymmetricAlgorithms = yamlenv.ListFromEnv[Literal["EdDSA", "ES256", "ES512", "RS256", "PS256"]]


class SecretKeySource(yamlenv.Section):
    """The shared-secret mode: HS* tokens signed with `BETTER_AUTH_SECRET`."""

    secret: yamlenv.EnvSecret = Field(
        TOKEN_SECRET_ENV, validation_alias="env", validate_default=True, repr=False
    )
    algorithms: HmacAlgorithms = ("HS256", "HS384", "HS512")
    issuer: str | None = None
    audiences: yamlenv.Strings = ()


class JwksKeySource(yamlenv.Switchable):
    """Asymmetric keys from a JWKS, remote (`url`) or on disk (`file`): exactly one is set."""

    name: str
    url: yamlenv.HttpUrl | None = None
    file: Path | None = None
    algorithms: AsymmetricAlgorithms = ("EdDSA", "ES256", "ES512", "RS256", "PS256")
    issuer: str | None = None
    audiences: yamlenv.Strings = ()
    refresh_interval_seconds: yamlenv.Float = 300.0
    # Bounds applied to a server's `Cache-Control: max-age`.
    min_refresh_interval_seconds: yamlenv.Float = 30.0
    max_refresh_interval_seconds: yamlenv.Float = 3600.0
    # An unknown `kid` triggers a re-fetch at most this often.
    unknown_kid_refetch_interval_seconds: yamlenv.Float = 10.0
    fetch_timeout_seconds: yamlenv.Float = 5.0

    @model_validator(mode="wrap")  # wraps the switch: not run while switched off
    @classmethod
    def _one_location(cls, data: Any, handler: Callable[[Any], Any]) -> Any:
        if isinstance(data, dict):  # unnamed, it is named by where its keys are
            data = {"name": str(data.get("url") or data.get("file")), **data}
        source = handler(data)
        if source and (source.url is None) == (source.file is None):
            raise ValueError("needs exactly one of `url` or `file`")
        return source


class AuthSettings(yamlenv.Section):
    secret: SecretKeySource | None = None
    jwks: Annotated[tuple[JwksKeySource, ...], yamlenv.DropSwitchedOff] = ()
    leeway_seconds: yamlenv.Float = 30.0
    user_claim: str = "sub"
    max_token_bytes: Annotated[yamlenv.Int, Field(ge=256)] = 8192
    cache_max_entries: yamlenv.Int = 10_000
    cache_ttl_seconds: yamlenv.Float = 300.0

    @field_validator("secret", mode="before")
    @classmethod
    def _off_while_unset(cls, value: Any, info: ValidationInfo) -> Any:
        name = value.get("env", TOKEN_SECRET_ENV) if isinstance(value, dict) else None
        return None if name is not None and not yamlenv.env_of(info).get(str(name)) else value
