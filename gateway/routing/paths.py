"""One canonical form of the request target: the string that is matched is the string forwarded.

aiohttp, yarl and the backend each normalise paths a little differently, so nothing here
leans on them: the raw request target is checked character by character. Percent-encoded
unreserved characters are decoded (`%7E` -> `~`, `%2e` -> `.`), other escapes get upper-case
hex, and anything another parser could read differently is refused with 400 rather than
guessed at: dot segments, empty segments (`//`), encoded `/`, `\\`, `%` or control
characters, `;` parameters, backslashes, raw non-ASCII, fragments, and escapes that are not
UTF-8 (overlong `%C0%AE`) or that NFKC turns into a dot segment or a separator (fullwidth
dots `%EF%BC%8E`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from service_plumbing.errors import ApiError

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# Characters allowed literally in a path: unreserved, sub-delims except ';', ':' and '@'.
_PATH_LITERAL = _UNRESERVED | frozenset("!$&'()*+,=:@")
_HEX = frozenset("0123456789abcdefABCDEF")
# Escapes that decode to something a later parser may treat as structure.
_REFUSED_ESCAPES = frozenset({"2F", "5C", "25", "3B"}) | {f"{i:02X}" for i in range(0x20)} | {"7F"}
# Query strings are not matched, only passed on: printable ASCII without space or '#'.
_QUERY = re.compile(r"[!\"$-~]*")
# The common case, already canonical: non-empty segments of literal characters, no escapes.
_PLAIN_PATH = re.compile(r"(?:/[A-Za-z0-9\-._~!$&'()*+,=:@]+)+/?")


@dataclass(frozen=True, slots=True)
class Target:
    path: str  # canonical, still percent-encoded where needed
    query: str  # raw query without '?', '' when absent

    @property
    def path_qs(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path


def bad_path(message: str) -> ApiError:
    return ApiError(400, message, reason="bad_path")


def canonical_target(raw_target: str) -> Target:
    """Split and canonicalise a raw request target (`request.raw_path`) or raise 400."""
    path, _, query = raw_target.partition("?")
    if not path.startswith("/"):
        raise bad_path("the request target must be an absolute path")
    if query and _QUERY.fullmatch(query) is None:
        raise bad_path("the query string contains characters that must be percent-encoded")
    return Target(path=canonical_path(path), query=query)


def canonical_path(path: str) -> str:
    if path == "/" or (_PLAIN_PATH.fullmatch(path) is not None and "/." not in path):
        return path
    segments = path[1:].split("/")
    for index, segment in enumerate(segments):
        if not segment and index != len(segments) - 1:
            raise bad_path("the path contains an empty segment")
        segments[index] = _canonical_segment(segment)
    return "/" + "/".join(segments)


def _canonical_segment(segment: str) -> str:
    if "%" not in segment and all(char in _PATH_LITERAL for char in segment):
        result = segment
    else:
        result = _decode_unreserved(segment)
    if result in (".", ".."):
        raise bad_path("the path contains a dot segment")
    if "%" in result:
        _refuse_disguised(decode_segment(result))
    return result


def _refuse_disguised(text: str) -> None:
    # Escapes left in a canonical segment are non-ASCII: they must be valid UTF-8 (no
    # overlong `%C0%AE` for '.'), and must not turn into a dot segment or a separator under
    # NFKC (fullwidth dot, solidus and reverse solidus) for a backend that normalises Unicode.
    folded = unicodedata.normalize("NFKC", text)
    if folded in (".", "..") or "/" in folded or "\\" in folded:
        raise bad_path("the path contains a disguised dot segment or separator")


def _decode_unreserved(segment: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(segment):
        char = segment[index]
        if char == "%":
            escape = segment[index + 1 : index + 3]
            if len(escape) != 2 or not all(digit in _HEX for digit in escape):
                raise bad_path("the path contains a malformed percent-escape")
            escape = escape.upper()
            if escape in _REFUSED_ESCAPES:
                raise bad_path("the path contains an encoded separator or control character")
            decoded = chr(int(escape, 16))
            out.append(decoded if decoded in _UNRESERVED else "%" + escape)
            index += 3
            continue
        if char not in _PATH_LITERAL:
            raise bad_path("the path contains a character that must be percent-encoded")
        out.append(char)
        index += 1
    return "".join(out)


def decode_segment(segment: str) -> str:
    """A canonical segment's text, for comparing a path parameter with a claim."""
    if "%" not in segment:
        return segment
    parts = segment.split("%")
    data = bytearray(parts[0].encode("ascii"))
    for part in parts[1:]:
        data.append(int(part[:2], 16))
        data.extend(part[2:].encode("ascii"))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_path("the path contains percent-escapes that are not UTF-8") from None
