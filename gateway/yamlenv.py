"""YAML with `${VAR}` interpolation, the value types it may feed, and problems by YAML path.

Interpolation runs on string scalars *after* parsing, so a variable's value can never add
structure to the document. A scalar that used a variable is `Interpolated`: only those may be
read as numbers, booleans or comma-separated lists (`GATEWAY_PORT=8080`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    model_validator,
)
from pydantic_core import ErrorDetails
from yarl import URL

MIN_SECRET_BYTES = 32
# ${VAR}, ${VAR:-default} (default when unset or empty), ${VAR:?message} (error when so), $$.
_EXPRESSION = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:-|:\?)(?P<arg>[^}]*))?\}"
)
_BOOLEANS = {"true": True, "yes": True, "on": True, "1": True}
_BOOLEANS |= {"false": False, "no": False, "off": False, "0": False}


class ConfigError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n" + "\n".join(problems))
        self.problems = problems


class Interpolated(str):
    """A scalar whose text came (at least partly) from the environment."""

    __slots__ = ()


class Section(BaseModel):
    """One mapping of gateway.yaml: frozen, unknown keys refused, an empty value is unset."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_is_unset(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None and value != ""}
        return data


class Switchable(Section):
    """A section that `enabled_when_set: VAR` switches off (validated as None, values unchecked)
    while the variable is unset or empty."""

    @model_validator(mode="wrap")
    @classmethod
    def _switched_off(
        cls, data: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        if isinstance(data, dict) and "enabled_when_set" in data:
            if not env_of(info).get(str(data["enabled_when_set"]), ""):
                return None
            data = {key: value for key, value in data.items() if key != "enabled_when_set"}
        return handler(data)


def _drop_off(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: item for key, item in value.items() if item is not None}
    return tuple(item for item in value if item is not None)


# After a collection of `Switchable`s: leaves out the switched-off ones.
DropSwitchedOff = AfterValidator(_drop_off)


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


def _secret_named(value: Any, info: ValidationInfo) -> Any:
    return secret_from_env(env_of(info), value) if isinstance(value, str) else value


# Given in gateway.yaml as the name of the variable that holds it.
EnvSecret = Annotated[bytes, BeforeValidator(_secret_named)]


def _from_env(parse: Callable[[str], object]) -> BeforeValidator:
    def convert(value: Any) -> Any:
        if not isinstance(value, Interpolated):
            return value
        try:
            return parse(value)
        except ValueError:
            return value  # refused below with the text in the message

    return BeforeValidator(convert)


def _finite(text: str) -> float:
    if not math.isfinite(number := float(text)):
        raise ValueError(text)
    return number


def _boolean(text: str) -> bool:
    if text.lower() not in _BOOLEANS:
        raise ValueError(text)
    return _BOOLEANS[text.lower()]


def _parts(text: Any) -> list[Any]:
    if isinstance(text, Interpolated):
        return [part.strip() for part in text.split(",") if part.strip()]
    return [text]


def _split(value: Any) -> Any:
    if isinstance(value, list):
        return [part for item in value for part in _parts(item)]
    return _parts(value) if isinstance(value, Interpolated) else value


def _http_url(text: str) -> str:
    url = URL(text)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"expected an http(s) URL, got {text!r}")
    return text


HttpUrl = Annotated[str, AfterValidator(_http_url)]
Int = Annotated[int, Strict(), _from_env(int), Field(ge=0)]
Float = Annotated[float, Strict(), _from_env(_finite), Field(ge=0, allow_inf_nan=False)]
Bool = Annotated[bool, Strict(), _from_env(_boolean)]
# A list, or from a variable a comma-separated text (`CORS_ALLOW_ORIGINS=https://a,https://b`).
ListFromEnv = BeforeValidator(_split)
Strings = Annotated[tuple[str, ...], ListFromEnv]


def load_yaml(text: str, env: Mapping[str, str], source: str) -> tuple[Any, list[str]]:
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
    used = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal used
        if match.group(0) == "$$":
            return "$"
        used = True
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        if value := env.get(name, ""):
            return value
        if op == ":?":
            problems.append(
                f"{yaml_path(loc)}: environment variable {name} is not set: {arg or 'required'}"
            )
        return str(arg) if op == ":-" else ""

    result = _EXPRESSION.sub(substitute, node)
    return Interpolated(result) if used else result


def yaml_path(loc: tuple[Any, ...]) -> str:
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
    return path.removeprefix(".")


def describe(error: ErrorDetails) -> str:
    """One problem line. A validator's message may start with `.key` or `[i]` to point deeper."""
    value, ctx = error["input"], error.get("ctx", {})
    messages: dict[str, Callable[[], str]] = {
        "extra_forbidden": lambda: "unknown key",
        "missing": lambda: "is required",
        "int_type": lambda: f"expected an integer, got {value!r}",
        "float_type": lambda: f"expected a number, got {value!r}",
        "finite_number": lambda: f"expected a number, got {value!r}",
        "bool_type": lambda: f"expected true or false, got {value!r}",
        "string_type": lambda: f"expected a string, got {_kind(value)}",
        "model_type": lambda: f"expected a mapping, got {_kind(value)}",
        "dict_type": lambda: f"expected a mapping, got {_kind(value)}",
        "tuple_type": lambda: f"expected a list, got {_kind(value)}",
        "greater_than_equal": lambda: f"must be at least {ctx.get('ge')}, got {value!r}",
        "less_than_equal": lambda: f"must be at most {ctx.get('le')}, got {value!r}",
        "literal_error": lambda: f"{value!r} is not one of {ctx.get('expected')}",
        "value_error": lambda: str(ctx.get("error")),
    }
    message = messages.get(error["type"], lambda: error["msg"])()
    path = yaml_path(error["loc"])
    if message.startswith((".", "[")) and path:
        return path + message
    return f"{path}: {message}" if path else message.lstrip(".")


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return next((name for kind, name in _KINDS if isinstance(value, kind)), type(value).__name__)


# bool before int: a YAML `true` is an int to isinstance.
_KINDS: tuple[tuple[type, str], ...] = (
    (bool, "a boolean"),
    (int, "an integer"),
    (float, "a number"),
    (str, "a string"),
    (list, "a list"),
    (dict, "a mapping"),
)
