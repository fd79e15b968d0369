"""The backend's settings, read once from the environment and checked before anything starts."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from service_plumbing.http_server import ParserLimits
from service_plumbing.logs import LOG_LEVELS

_T = TypeVar("_T")

MIN_SECRET_BYTES = 32
DEFAULT_SQLITE_FILE = "todo.db"
_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


# The gateway's default `limits:` (gateway.yaml), plus room for the headers it adds (identity,
# X-Forwarded-*, traceparent) and for X-Forwarded-For growing by one address: a request the
# gateway accepts is never refused here by the parser. Raise these with the gateway's limits.
DEFAULT_PARSER_LIMITS = ParserLimits(
    max_request_line_bytes=16384, max_header_bytes=65536 + 1024, max_headers=128 + 16
)
# Variable -> (ParserLimits field, smallest value: the gateway's own lower bounds).
_PARSER_LIMIT_VARIABLES = {
    "BACKEND_MAX_REQUEST_LINE_BYTES": ("max_request_line_bytes", 1024),
    "BACKEND_MAX_HEADER_BYTES": ("max_header_bytes", 1024),
    "BACKEND_MAX_HEADERS": ("max_headers", 16),
}


class ConfigError(ValueError):
    """A setting is missing or wrong; the message names the environment variable."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable} {problem}")
        self.variable = variable


class InvalidEnvironment(ValueError):
    """Every problem the environment has, each naming its variable, in a stable order."""

    def __init__(self, problems: Sequence[ConfigError]) -> None:
        super().__init__("; ".join(str(problem) for problem in problems))
        self.problems = tuple(problems)


class _Problems:
    """Runs each check and keeps its `ConfigError`, so one run names every problem."""

    def __init__(self) -> None:
        self.found: list[ConfigError] = []

    def check(self, parse: Callable[..., _T], *args: Any, default: _T) -> _T:
        try:
            return parse(*args)
        except ConfigError as error:
            self.found.append(error)
            return default


@dataclass(frozen=True, slots=True)
class BackendSettings:
    """Everything the backend needs; `identity_secrets[0]` is current, the rest are rotating out."""

    identity_secrets: tuple[bytes, ...]
    database_url: str
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "info"
    identity_max_age_seconds: float = 30.0
    max_body_bytes: int = 1024 * 1024
    # PostgreSQL only: the schema to work in (search_path); None means the server's default.
    database_schema: str | None = None
    parser_limits: ParserLimits = DEFAULT_PARSER_LIMITS

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BackendSettings:
        """The settings, or `InvalidEnvironment` naming every variable that is wrong."""
        problems = _Problems()
        no_secrets: list[bytes] = []
        settings = cls(
            identity_secrets=(
                problems.check(
                    _secret,
                    env.get("GATEWAY_IDENTITY_SECRET", ""),
                    "GATEWAY_IDENTITY_SECRET",
                    default=b"",
                ),
                *problems.check(
                    _previous_secrets,
                    env.get("GATEWAY_IDENTITY_PREVIOUS_SECRETS", ""),
                    default=no_secrets,
                ),
            ),
            database_url=problems.check(database_url, env.get("DATABASE_URL", ""), default=""),
            host=env.get("BACKEND_HOST", "").strip() or "127.0.0.1",
            port=problems.check(_port, env.get("BACKEND_PORT", "").strip() or "8000", default=0),
            log_level=problems.check(
                _log_level, env.get("LOG_LEVEL", "").strip() or "info", default="info"
            ),
            parser_limits=_parser_limits(env, problems),
        )
        if problems.found:
            raise InvalidEnvironment(problems.found)
        return settings


def database_url(raw: str) -> str:
    """The SQLAlchemy async URL for `DATABASE_URL` (empty: a SQLite file in the working dir)."""
    raw = raw.strip()
    if not raw:
        return "sqlite+aiosqlite:///" + os.path.abspath(DEFAULT_SQLITE_FILE)
    scheme, separator, rest = raw.partition("://")
    driver = _DRIVERS.get(scheme.lower())
    if not separator or driver is None:
        raise ConfigError(
            "DATABASE_URL", "must start with sqlite:/// or postgresql:// (got another scheme)"
        )
    if driver.startswith("sqlite"):
        _check_sqlite_path(rest)
    return f"{driver}://{rest}"


def _check_sqlite_path(rest: str) -> None:
    path = rest.removeprefix("/")
    if not rest.startswith("/") or not path:
        raise ConfigError("DATABASE_URL", "must name a file as sqlite:///<path>")
    directory = os.path.dirname(os.path.abspath(path.partition("?")[0]))
    if not os.path.isdir(directory):
        raise ConfigError("DATABASE_URL", "names a SQLite file in a directory that does not exist")


def _secret(raw: str, variable: str) -> bytes:
    secret = raw.encode("utf-8", "surrogateescape")
    if not secret:
        raise ConfigError(variable, f"is not set; it must hold at least {MIN_SECRET_BYTES} bytes")
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigError(variable, f"is too short; it must hold at least {MIN_SECRET_BYTES} bytes")
    return secret


def _previous_secrets(raw: str) -> list[bytes]:
    variable = "GATEWAY_IDENTITY_PREVIOUS_SECRETS"
    return [_secret(part.strip(), variable) for part in raw.split(",") if part.strip()]


def _port(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError("BACKEND_PORT", "must be a port number between 1 and 65535")
    return int(raw)


def _log_level(raw: str) -> str:
    level = raw.lower()
    if level not in LOG_LEVELS:
        raise ConfigError("LOG_LEVEL", f"must be one of {', '.join(LOG_LEVELS)}")
    return level


def _parser_limits(env: Mapping[str, str], problems: _Problems) -> ParserLimits:
    values: dict[str, int] = {}
    for variable, (field, minimum) in _PARSER_LIMIT_VARIABLES.items():
        raw = env.get(variable, "").strip()
        if raw:
            values[field] = problems.check(_at_least, raw, variable, minimum, default=minimum)
    return replace(DEFAULT_PARSER_LIMITS, **values)


def _at_least(raw: str, variable: str, minimum: int) -> int:
    if not raw.isascii() or not raw.isdigit() or int(raw) < minimum:
        raise ConfigError(variable, f"must be a whole number of at least {minimum}")
    return int(raw)
