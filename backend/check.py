"""`python -m backend --check`: can this environment's database be used? Problems, not exceptions.

PostgreSQL is connected to (one `SELECT 1`, bounded in time), since a URL that parses but
names the wrong host, database or password is the commonest mistake. A SQLite file is not
opened, as opening would create it: its directory (and the file, when it exists) must be
writable.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping

import asyncpg
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from backend.config import BackendSettings, ConfigError, InvalidEnvironment, database_url

CONNECT_TIMEOUT_SECONDS = 5.0


def problems(env: Mapping[str, str]) -> list[str]:
    """Every problem of the environment, then of the database when its URL parses."""
    found: list[str] = []
    try:
        BackendSettings.from_env(env)
    except InvalidEnvironment as error:
        found += [str(problem) for problem in error.problems]
    try:
        url = database_url(env.get("DATABASE_URL", ""))
    except ConfigError:
        return found  # already named above
    return found + asyncio.run(database_problems(url))


async def database_problems(url: str) -> list[str]:
    """What is wrong with this (SQLAlchemy) database URL; empty when nothing is."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_problems(parsed.database or "")
    return await _postgres_problems(url)


def _sqlite_problems(path: str) -> list[str]:
    path = os.path.abspath(path)
    if os.path.exists(path):
        if not os.access(path, os.R_OK | os.W_OK):
            return ["DATABASE_URL names a SQLite file this user cannot read and write"]
        return []
    if not os.access(os.path.dirname(path), os.W_OK):
        return ["DATABASE_URL names a SQLite file in a directory this user cannot write"]
    return []


async def _postgres_problems(database_url: str) -> list[str]:
    engine = create_async_engine(database_url, connect_args={"timeout": CONNECT_TIMEOUT_SECONDS})
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS + 1):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except Exception as error:  # every failure is a finding to report, not a crash
        return [f"DATABASE_URL: cannot use the PostgreSQL database: {_reason(error)}"]
    finally:
        await engine.dispose()
    return []


def _reason(error: BaseException) -> str:
    # The server's own words (they name the user or database, never the password), else the
    # operating system's, else the kind of error.
    current: BaseException | None = error
    while current is not None:
        if isinstance(current, asyncpg.PostgresError):
            return f"{current.args[0] if current.args else current} (SQLSTATE {current.sqlstate})"
        if isinstance(current, OSError) and current.errno:
            return os.strerror(current.errno)
        current = current.__cause__
    return "timed out" if isinstance(error, TimeoutError) else type(error).__name__
