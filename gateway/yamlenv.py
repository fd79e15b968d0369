"""gateway.yaml with `${VAR}` interpolation, the value types of its models, problems by path.

Interpolation runs on string scalars *after* parsing, so a variable's value can never add
structure. A scalar that used a variable is `Interpolated`: only those may be read as numbers,
booleans or comma-separated lists (`GATEWAY_PORT=8080`); a literal "8080" stays a string.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import ErrorDetails
from yarl import URL

MIN_SECRET_BYTES = 32
M = TypeVar("M", bound="Section")
# ${VAR}, ${VAR:-default} (default when unset or empty), ${VAR:?message} (error when so), $$.
_EXPRESSION = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}")
_BOOLEANS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}
_EXPECTED = {"int_type": "an integer", "float_type": "a number", "bool_type": "true or false"}
_EXPECTED |= {"string_type": "a string", "tuple_type": "a list", "model_type": "a mapping"}
_MESSAGES = {  # pydantic's error types in our words
    "extra_forbidden": "unknown key",
    "missing": "is required",
    "greater_than_equal": "must be at least {ge}, got {input!r}",
    "less_than_equal": "must be at most {le}, got {input!r}",
    "literal_error": "{input!r} is not one of {expected}",
    "string_pattern_mismatch": "must match {pattern}, got {input!r}",
    "value_error": "{error}",
}


class ConfigError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n" + "\n".join(problems))
        self.problems = problems


class Interpolated(str):
    """A scalar whose text came (at least partly) from the environment."""

    __slots__ = ()


class Section(BaseModel):
    """One mapping of gateway.yaml: frozen, unknown keys refused, an empty value is unset."""

    model_config = {"frozen": True, "extra": "forbid", "validate_by_name": True}

    @model_validator(mode="before")
    @classmethod
    def _empty_is_unset(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None and value != ""}
        return data


class Switchable(Section):
    """Switched off (None, its values unchecked) by `enabled_when_set: VAR` while VAR is unset."""

    @model_validator(mode="wrap")
    @classmethod
    def _switch(cls, data: Any, handler: Callable[[Any], Any], info: ValidationInfo) -> Any:
        gate = data.pop("enabled_when_set", None) if isinstance(data, dict) else None
        return None if gate is not None and not env_of(info).get(str(gate)) else handler(data)


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
    if value.lower() in _BOOLEANS:
        return _BOOLEANS[value.lower()]
    for kind in (int, float):
        with contextlib.suppress(ValueError):
            number = kind(value)
            return number if math.isfinite(number) else value
    return value


def _list(value: Any) -> Any:
    """A list, or from a variable a comma-separated text (`CORS_ALLOW_ORIGINS=https://a,b`)."""
    if isinstance(value, Interpolated):
        return [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list):
        return value
    split = [_list(item) if isinstance(item, Interpolated) else [item] for item in value]
    return [part for parts in split for part in parts]


def _http_url(text: str) -> str:
    if URL(text).scheme not in ("http", "https") or not URL(text).host:
        raise ValueError(f"expected an http(s) URL, got {text!r}")
    return text


def named_by_path(prefix: str) -> BeforeValidator:
    """Items of a list without a `name` are named by their YAML path."""

    def name(items: Any) -> Any:
        if not isinstance(items, list):
            return items
        return [
            {"name": f"{prefix}[{i}]", **x} if isinstance(x, dict) else x
            for i, x in enumerate(items)
        ]

    return BeforeValidator(name)


def _drop_off(items: Any) -> Any:
    if isinstance(items, dict):
        return {key: item for key, item in items.items() if item is not None}
    return tuple(item for item in items if item is not None)


Int = Annotated[int, BeforeValidator(_scalar), Field(strict=True, ge=0)]
Float = Annotated[float, BeforeValidator(_scalar), Field(strict=True, ge=0, allow_inf_nan=False)]
Bool = Annotated[bool, BeforeValidator(_scalar), Field(strict=True)]
ListFromEnv = BeforeValidator(_list)
Strings = Annotated[tuple[str, ...], ListFromEnv]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
EnvSecret = Annotated[  # in gateway.yaml: the name of the variable that holds it
    bytes,
    BeforeValidator(lambda v, info: secret_from_env(env_of(info), v) if isinstance(v, str) else v),
]
# After a collection of `Switchable`s: leaves out the switched-off ones.
DropSwitchedOff = AfterValidator(_drop_off)


def load(model: type[M], text: str, env: Mapping[str, str], source: str) -> M:
    """Parse, interpolate and validate; raise `ConfigError` listing every problem."""
    document, problems = _load_yaml(text, env, source)
    try:
        result = model.model_validate(document or {}, context={"env": env})
    except ValidationError as error:
        problems += [_describe(item) for item in error.errors(include_url=False)]
    if problems:
        raise ConfigError(problems)
    return result


def _load_yaml(text: str, env: Mapping[str, str], source: str) -> tuple[Any, list[str]]:
    """The interpolated document and the problems of interpolation; `ConfigError` when the
    text is not YAML (then nothing else is worth reporting)."""
    try:
        document = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ConfigError([f"{where}: not valid YAML: {error.problem or error.context}"]) from None
    except yaml.YAMLError:
        raise ConfigError([f"{source}: not valid YAML"]) from None
    problems: list[str] = []
    return _interpolate(document, env, problems, ()), problems


def _interpolate(
    node: Any, env: Mapping[str, str], problems: list[str], loc: tuple[Any, ...]
) -> Any:
    if isinstance(node, dict):
        return {key: _interpolate(value, env, problems, (*loc, key)) for key, value in node.items()}
    if isinstance(node, list):
        return [_interpolate(item, env, problems, (*loc, i)) for i, item in enumerate(node)]
    if not isinstance(node, str) or "$" not in node:
        return node

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match.groups()
        if name is None:  # `$$`
            return "$"
        if op == ":?" and not env.get(name):
            why = arg or "required"
            problems.append(f"{_yaml_path(loc)}: environment variable {name} is not set: {why}")
        return env.get(name) or (arg if op == ":-" else "")

    result = _EXPRESSION.sub(substitute, node)
    from_env = any(match.group(1) for match in _EXPRESSION.finditer(node))
    return Interpolated(result) if from_env else result


def _yaml_path(loc: tuple[Any, ...]) -> str:
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
    return path.removeprefix(".")


def _describe(error: ErrorDetails) -> str:
    """One problem line. A validator's message may start with `.key` or `[i]` to point deeper."""
    kind, value = error["type"], error["input"]
    if kind in _EXPECTED:
        message = f"expected {_EXPECTED[kind]}, got {value!r}"
    else:
        template = _MESSAGES.get(kind)
        message = template.format(input=value, **error.get("ctx", {})) if template else error["msg"]
    path = _yaml_path(error["loc"])
    if message.startswith((".", "[")) and path:
        return path + message
    return f"{path}: {message}" if path else message.lstrip(".")
