"""Settings come from the environment and a wrong one is named."""

from __future__ import annotations

import os

import pytest

from backend.config import BackendSettings, InvalidEnvironment, database_url
from service_plumbing.http_server import ParserLimits

SECRET = "x" * 32


def test_defaults() -> None:
    settings = BackendSettings.from_env({"GATEWAY_IDENTITY_SECRET": SECRET})
    assert settings.identity_secrets == (SECRET.encode(),)
    assert settings.database_url == "sqlite+aiosqlite:///" + os.path.abspath("todo.db")
    assert (settings.host, settings.port, settings.log_level) == ("127.0.0.1", 8000, "info")
    assert settings.identity_max_age_seconds == 30
    # The gateway's default limits plus room for the headers it adds.
    assert settings.parser_limits == ParserLimits(
        max_request_line_bytes=16384, max_header_bytes=65536 + 1024, max_headers=128 + 16
    )


def test_everything_set() -> None:
    settings = BackendSettings.from_env(
        {
            "GATEWAY_IDENTITY_SECRET": SECRET,
            "GATEWAY_IDENTITY_PREVIOUS_SECRETS": " " + "a" * 32 + " ,, " + "b" * 40,
            "DATABASE_URL": "postgresql://u:p@db:5432/todo",
            "BACKEND_HOST": "::",
            "BACKEND_PORT": "9000",
            "LOG_LEVEL": "WARNING",
            "BACKEND_MAX_REQUEST_LINE_BYTES": "20000",
            "BACKEND_MAX_HEADER_BYTES": " 100000 ",
            "BACKEND_MAX_HEADERS": "200",
        }
    )
    assert settings.parser_limits == ParserLimits(
        max_request_line_bytes=20000, max_header_bytes=100000, max_headers=200
    )
    assert settings.identity_secrets == (SECRET.encode(), b"a" * 32, b"b" * 40)
    assert settings.database_url == "postgresql+asyncpg://u:p@db:5432/todo"
    assert (settings.host, settings.port, settings.log_level) == ("::", 9000, "warning")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("sqlite:////tmp/todo.db", "sqlite+aiosqlite:////tmp/todo.db"),
        ("sqlite:///todo.db", "sqlite+aiosqlite:///todo.db"),
        ("postgres://h/db", "postgresql+asyncpg://h/db"),
        ("postgresql+asyncpg://h/db", "postgresql+asyncpg://h/db"),
    ],
)
def test_database_urls(raw: str, expected: str) -> None:
    assert database_url(raw) == expected


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"GATEWAY_IDENTITY_SECRET": None}, "GATEWAY_IDENTITY_SECRET"),
        ({"GATEWAY_IDENTITY_SECRET": "x" * 31}, "GATEWAY_IDENTITY_SECRET"),
        ({"GATEWAY_IDENTITY_PREVIOUS_SECRETS": "short"}, "GATEWAY_IDENTITY_PREVIOUS_SECRETS"),
        ({"DATABASE_URL": "mysql://h/db"}, "DATABASE_URL"),
        ({"DATABASE_URL": "sqlite://relative"}, "DATABASE_URL"),
        ({"DATABASE_URL": "just-a-path.db"}, "DATABASE_URL"),
        ({"DATABASE_URL": "sqlite:///"}, "DATABASE_URL"),
        ({"DATABASE_URL": "sqlite:////no/such/directory/todo.db"}, "DATABASE_URL"),
        ({"BACKEND_PORT": "0"}, "BACKEND_PORT"),
        ({"BACKEND_PORT": "65536"}, "BACKEND_PORT"),
        ({"BACKEND_PORT": "-1"}, "BACKEND_PORT"),
        ({"LOG_LEVEL": "trace"}, "LOG_LEVEL"),
        ({"BACKEND_MAX_HEADER_BYTES": "1023"}, "BACKEND_MAX_HEADER_BYTES"),
        ({"BACKEND_MAX_HEADER_BYTES": "64k"}, "BACKEND_MAX_HEADER_BYTES"),
        ({"BACKEND_MAX_REQUEST_LINE_BYTES": "-16384"}, "BACKEND_MAX_REQUEST_LINE_BYTES"),
        ({"BACKEND_MAX_HEADERS": "15"}, "BACKEND_MAX_HEADERS"),
        ({"BACKEND_MAX_HEADERS": "\uff11\uff12\uff18"}, "BACKEND_MAX_HEADERS"),
    ],
)
def test_errors_name_the_variable(env: dict[str, str | None], variable: str) -> None:
    merged = {"GATEWAY_IDENTITY_SECRET": SECRET} | env
    full = {key: value for key, value in merged.items() if value is not None}
    with pytest.raises(InvalidEnvironment) as error:
        BackendSettings.from_env(full)
    assert [problem.variable for problem in error.value.problems] == [variable]
    assert variable in str(error.value)


def test_every_wrong_variable_is_named_at_once() -> None:
    env = {"GATEWAY_IDENTITY_SECRET": "short", "BACKEND_PORT": "x", "LOG_LEVEL": "loud"}
    with pytest.raises(InvalidEnvironment) as error:
        BackendSettings.from_env(env | {"DATABASE_URL": "mysql://h/db"})
    variables = [problem.variable for problem in error.value.problems]
    assert variables == ["GATEWAY_IDENTITY_SECRET", "DATABASE_URL", "BACKEND_PORT", "LOG_LEVEL"]
