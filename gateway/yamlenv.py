"""YAML with `${VAR}` interpolation, and a reader that collects every problem by YAML path.

Interpolation runs on string scalars *after* parsing, so a variable's value can never add
structure to the document. A scalar that used a variable is an `Interpolated` string: only
those may be read as numbers, booleans or comma-separated lists (`GATEWAY_PORT=8080`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import yaml

T = TypeVar("T")

# ${VAR}, ${VAR:-default} (default when unset or empty), ${VAR:?message} (error when so), $$.
_EXPRESSION = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:-|:\?)(?P<arg>[^}]*))?\}"
)
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


class Interpolated(str):
    """A scalar whose text came (at least partly) from the environment."""

    __slots__ = ()


class Problems:
    """Every configuration problem found, each prefixed with its YAML path."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{path}: {message}" if path else message)


def load_yaml(text: str, env: Mapping[str, str], problems: Problems) -> Any:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        problems.add("", f"not valid YAML: {error}")
        return None
    return interpolate(document, env, problems, "")


def interpolate(node: Any, env: Mapping[str, str], problems: Problems, path: str) -> Any:
    if isinstance(node, dict):
        return {
            key: interpolate(value, env, problems, join(path, str(key)))
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [interpolate(item, env, problems, f"{path}[{i}]") for i, item in enumerate(node)]
    if isinstance(node, str) and "$" in node:
        return _interpolate_string(node, env, problems, path)
    return node


def _interpolate_string(text: str, env: Mapping[str, str], problems: Problems, path: str) -> str:
    used = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal used
        if match.group(0) == "$$":
            return "$"
        used = True
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        value = env.get(name, "")
        if value:
            return value
        if op == ":-":
            return str(arg)
        if op == ":?":
            problems.add(path, f"environment variable {name} is not set: {arg or 'required'}")
        return ""

    result = _EXPRESSION.sub(substitute, text)
    return Interpolated(result) if used else result


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class Reader:
    """Typed access to one YAML mapping; wrong or unknown keys become `Problems`."""

    def __init__(self, node: Any, path: str, problems: Problems) -> None:
        self.path = path
        self.problems = problems
        self.seen: set[str] = set()
        if node is None:
            node = {}
        if not isinstance(node, dict):
            problems.add(path, f"expected a mapping, got {_kind(node)}")
            node = {}
        self.node: dict[Any, Any] = node

    def at(self, key: str) -> str:
        return join(self.path, key)

    def raw(self, key: str) -> Any:
        self.seen.add(key)
        return self.node.get(key)

    def has(self, key: str) -> bool:
        return self.node.get(key) is not None

    def child(self, key: str) -> Reader:
        return Reader(self.raw(key), self.at(key), self.problems)

    def string(self, key: str, default: str) -> str:
        value = self.raw(key)
        if value is None:
            return default
        if not isinstance(value, str):
            self.problems.add(self.at(key), f"expected a string, got {_kind(value)}")
            return default
        return value

    def optional_string(self, key: str) -> str | None:
        value = self.string(key, "")
        return value or None

    def integer(self, key: str, default: int, *, minimum: int = 0) -> int:
        return self._number(key, default, int, minimum)

    def number(self, key: str, default: float, *, minimum: float = 0.0) -> float:
        return self._number(key, default, float, minimum)

    def _number(self, key: str, default: T, kind: Callable[[Any], T], minimum: float) -> T:
        value = self.raw(key)
        if value is None or value == "":
            return default
        name = "an integer" if kind is int else "a number"
        try:
            # Only text from the environment may stand for a number (`GATEWAY_PORT=8080`).
            literal_text = isinstance(value, str) and not isinstance(value, Interpolated)
            if isinstance(value, bool) or literal_text:
                raise TypeError
            if kind is int and isinstance(value, float):
                raise TypeError
            result = kind(value)
            if not math.isfinite(result):  # type: ignore[arg-type]
                raise ValueError
        except (TypeError, ValueError):
            self.problems.add(self.at(key), f"expected {name}, got {value!r}")
            return default
        if result < minimum:  # type: ignore[operator]
            self.problems.add(self.at(key), f"must be at least {minimum}, got {value!r}")
            return default
        return result

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw(key)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, Interpolated) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        self.problems.add(self.at(key), f"expected true or false, got {value!r}")
        return default

    def strings(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        """A list of strings; an interpolated scalar is read as a comma-separated list."""
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, Interpolated):
            return tuple(_split(value))
        if not isinstance(value, list):
            self.problems.add(self.at(key), f"expected a list, got {_kind(value)}")
            return default
        result: list[str] = []
        for index, item in enumerate(value):
            if isinstance(item, str):
                result.extend(_split(item))
            else:
                where = f"{self.at(key)}[{index}]"
                self.problems.add(where, f"expected a string, got {_kind(item)}")
        return tuple(result)

    def items(self, key: str) -> list[tuple[str, Any]]:
        """A list node as (path, item) pairs."""
        value = self.raw(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.problems.add(self.at(key), f"expected a list, got {_kind(value)}")
            return []
        return [(f"{self.at(key)}[{index}]", item) for index, item in enumerate(value)]

    def finish(self) -> None:
        """Report keys nobody asked for: a typo must not silently fall back to a default."""
        for key in self.node:
            if key not in self.seen:
                self.problems.add(join(self.path, str(key)), "unknown key")


def _split(item: str) -> list[str]:
    if isinstance(item, Interpolated):
        return [part.strip() for part in item.split(",") if part.strip()]
    return [item]


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    for kind, name in _KINDS:
        if isinstance(value, kind):
            return name
    return type(value).__name__


# bool before int: a YAML `true` is an int to isinstance.
_KINDS: tuple[tuple[type, str], ...] = (
    (bool, "a boolean"),
    (int, "an integer"),
    (float, "a number"),
    (str, "a string"),
    (list, "a list"),
    (dict, "a mapping"),
)
