"""The schema is created once however many start at once; only reachability is a 503."""

from __future__ import annotations

import asyncio
import sqlite3

import asyncpg
import pytest
from sqlalchemy import exc as sa_exc

from backend.config import BackendSettings
from backend.db import Database, create_engine, is_unavailable


async def test_concurrent_schema_creation_is_safe(settings: BackendSettings) -> None:
    databases = [Database(create_engine(settings)) for _ in range(6)]
    try:
        await asyncio.gather(*(database.ensure_schema() for database in databases))
        async with databases[0].reading() as connection:
            tables = await connection.run_sync(lambda sync: sync.dialect.get_table_names(sync))
        assert tables == ["tasks"]
    finally:
        await asyncio.gather(*(database.engine.dispose() for database in databases))


def _wrapped(postgres_error: Exception) -> sa_exc.DBAPIError:
    # As SQLAlchemy raises it: a DBAPIError whose cause chain ends in asyncpg's exception.
    adapted = RuntimeError("adapted")
    adapted.__cause__ = postgres_error
    wrapped = sa_exc.DBAPIError("SELECT 1", {}, adapted)
    wrapped.__cause__ = adapted
    return wrapped


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ConnectionRefusedError(111, "refused"), True),
        (TimeoutError(), True),
        (
            sa_exc.OperationalError("SELECT 1", {}, sqlite3.OperationalError("database is locked")),
            True,
        ),
        (
            sa_exc.OperationalError(
                "x", {}, sqlite3.OperationalError("unable to open database file")
            ),
            True,
        ),
        (
            sa_exc.OperationalError("SELECT 1", {}, sqlite3.OperationalError("no such table: x")),
            False,
        ),
        (sa_exc.IntegrityError("INSERT", {}, sqlite3.IntegrityError("NOT NULL failed")), False),
        (ValueError("a bug"), False),
        (_wrapped(asyncpg.exceptions.CannotConnectNowError("starting up")), True),
        (_wrapped(asyncpg.exceptions.AdminShutdownError("terminating")), True),
        (_wrapped(asyncpg.exceptions.TooManyConnectionsError("too many")), True),
        (_wrapped(asyncpg.exceptions.UniqueViolationError("duplicate")), False),
        (_wrapped(asyncpg.exceptions.UndefinedTableError("no such table")), False),
    ],
)
def test_only_reachability_problems_count_as_unavailable(
    error: BaseException, expected: bool
) -> None:
    assert is_unavailable(error) is expected
