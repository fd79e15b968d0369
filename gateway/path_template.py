"""Path templates of routes: literal segments, `{name}` (one segment), a final `{name...}`.

Compiled once into a regular expression over the canonical path (see `gateway/paths.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LITERAL = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,=:@]+")


@dataclass(frozen=True, slots=True)
class Template:
    pattern: re.Pattern[str]
    params: tuple[str, ...]


def parse_template(template: str) -> Template:
    """Compile a path template, or raise ValueError saying what is wrong with it."""
    if not template.startswith("/"):
        raise ValueError(f'path template must start with "/": {template!r}')
    if template == "/":
        return Template(re.compile("/"), ())
    parts: list[str] = []
    params: list[str] = []
    segments = template[1:].split("/")
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        parts.append(_segment_pattern(segment, last, params, template))
    return Template(re.compile("/" + "/".join(parts)), tuple(params))


def _segment_pattern(segment: str, last: bool, params: list[str], template: str) -> str:
    if segment.startswith("{") and segment.endswith("}"):
        name = segment[1:-1]
        rest = name.endswith("...")
        name = name.removesuffix("...")
        if not _NAME.fullmatch(name):
            raise ValueError(f"bad parameter name {segment!r} in {template!r}")
        if name in params:
            raise ValueError(f"parameter {name!r} appears twice in {template!r}")
        if rest and not last:
            raise ValueError(f"{segment!r} must be the last segment of {template!r}")
        params.append(name)
        # Canonical paths have no empty segment except a trailing one.
        return f"(?P<{name}>[^/].*)" if rest else f"(?P<{name}>[^/]+)"
    if not _LITERAL.fullmatch(segment) or segment in (".", ".."):
        raise ValueError(f"bad literal segment {segment!r} in {template!r}")
    return re.escape(segment)
