"""gateway.yaml with `${VAR}` interpolation (on string scalars after parsing, so a variable
adds no structure), the value types of its models, and every problem by its YAML path."""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar

import pydantic
import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, ValidationInfo
from pydantic_core import ErrorDetails
from yarl import URL

MIN_SECRET_BYTES = 32
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
# ${VAR}, ${VAR:-default} (default when unset or empty), ${VAR:?message} (error when so), $$.
_EXPRESSION = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}")
_BOOLEANS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}
# pydantic's words where they would name its classes, not the YAML's terms.
_MESSAGES = {"extra_forbidden": "unknown key", "missing": "is required"}
_MESSAGES |= {"model_type": "expected a mapping", "tuple_type": "expected a list"}


class ConfigError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n" + "\n".join(problems))
        self.problems = problems


class Interpolated(str):
    """Text (at least partly) from a variable: only such may become a number, bool or list."""


class Section(BaseModel):
    """One mapping of gateway.yaml: frozen, unknown keys refused, an empty value is unset."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid", validate_by_name=True)

    @pydantic.model_validator(mode="wrap")
    @classmethod
    def _read(cls, data: Any, handler: Callable[[Any], Any], info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return handler(data)
        data = {key: value for key, value in data.items() if value not in (None, "")}
        gate = data.pop("enabled_when_set", None) if issubclass(cls, Switchable) else None
        return None if gate and not env_of(info).get(str(gate)) else handler(data)


class Switchable(Section):
    """Switched off (None, its values unchecked) by `enabled_when_set: VAR` while VAR is unset."""


def env_of(info: ValidationInfo) -> Mapping[str, str]:
    env: Mapping[str, str] = (info.context or {}).get("env", {})
    return env


def secret_from_env(env: Mapping[str, str], name: str) -> bytes:
    """The secret held by variable `name`; ValueError (naming it, never its value) if unusable."""
    secret = env.get(name, "").encode("utf-8")
    if not secret:
        raise ValueError(f"environment variable {name} is not set")
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"{name} must be at least {MIN_SECRET_BYTES} bytes, got {len(secret)}")
    return secret


def _scalar(value: Any) -> Any:
    """A variable's text as the number or boolean it spells; other text is refused later."""
    if not isinstance(value, Interpolated):
        return value
    for kind in (int, float):
        with contextlib.suppress(ValueError):
            number = kind(value)
            return number if math.isfinite(number) else value
    return _BOOLEANS.get(value.lower(), value)


def _list(value: Any) -> Any:
    """From a variable, a comma-separated list (`CORS_ALLOW_ORIGINS=https://a,https://b`)."""
    if isinstance(value, Interpolated):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _http_url(text: str) -> str:
    if URL(text).scheme not in ("http", "https") or not URL(text).host:
        raise ValueError(f"expected an http(s) URL, got {text!r}")
    return text


def _drop_off(items: Any) -> Any:  # after a collection of `Switchable`s: leaves out the off ones
    if isinstance(items, dict):
        return {key: item for key, item in items.items() if item is not None}
    return tuple(item for item in items if item is not None)


Int = Annotated[int, BeforeValidator(_scalar), Field(strict=True, ge=0)]
Float = Annotated[float, BeforeValidator(_scalar), Field(strict=True, ge=0, allow_inf_nan=False)]
Bool = Annotated[bool, BeforeValidator(_scalar), Field(strict=True)]
ListFromEnv = Annotated[tuple[T, ...], BeforeValidator(_list)]
Strings = ListFromEnv[str]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
EnvSecret = Annotated[  # in gateway.yaml: the name of the variable that holds it
    bytes,
    BeforeValidator(lambda v, info: secret_from_env(env_of(info), v) if isinstance(v, str) else v),
]
DropSwitchedOff = AfterValidator(_drop_off)


def load(model: type[M], text: str, env: Mapping[str, str], source: str = "gateway.yaml") -> M:
    """Parse, interpolate and validate; raise `ConfigError` listing every problem."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:  # then nothing else is worth reporting
        mark = getattr(error, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ConfigError([f"{where}: not valid YAML: {getattr(error, 'problem', '?')}"]) from None
    problems: list[str] = []
    document = _expand(document, env, problems, ()) or {}
    try:
        settings = model.model_validate(document, context={"env": env})
    except pydantic.ValidationError as error:
        problems += [_describe(item) for item in error.errors(include_url=False)]
    if problems:
        raise ConfigError(problems)
    return settings


def _expand(node: Any, env: Mapping[str, str], problems: list[str], loc: tuple[Any, ...]) -> Any:
    if isinstance(node, dict):
        return {key: _expand(value, env, problems, (*loc, key)) for key, value in node.items()}
    if isinstance(node, list):
        return [_expand(item, env, problems, (*loc, i)) for i, item in enumerate(node)]
    if not isinstance(node, str) or "$" not in node:
        return node

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match.groups()
        if name and op == ":?" and not env.get(name):
            why = arg or "required"
            problems.append(f"{_yaml_path(loc)}: environment variable {name} is not set: {why}")
        return "$" if name is None else env.get(name) or (arg if op == ":-" else "")

    text = _EXPRESSION.sub(substitute, node)
    return Interpolated(text) if "${" in node.replace("$$", "") else text


def _yaml_path(loc: tuple[Any, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).removeprefix(".")


def _describe(error: ErrorDetails) -> str:
    """One problem line. A validator's message may start with `.key` or `[i]` to point deeper."""
    kind, value, path = error["type"], error["input"], _yaml_path(error["loc"])
    message = _MESSAGES.get(kind) or error["msg"].removeprefix("Value error, ")
    if kind not in _MESSAGES and kind != "value_error" and isinstance(value, str | int | float):
        message += f", got {value!r}"
    if message.startswith((".", "[")) and path:
        return path + message
    return f"{path}: {message}" if path else message.lstrip(".")
