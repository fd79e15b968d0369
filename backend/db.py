"""The database: one engine per process, the schema, and "unavailable" as a clean 503."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import structlog
from sqlalchemy import event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.schema import CreateIndex, CreateTable

from backend.config import BackendSettings
from backend.models import Base
from service_plumbing.errors import ApiError

log = structlog.get_logger("backend")

SQLITE_BUSY_TIMEOUT_SECONDS = 30
_SCHEMA_ATTEMPTS = 10
POSTGRES_CONNECT_TIMEOUT_SECONDS = 5
# Serialises schema creation between backend processes starting at once on one database.
_SCHEMA_LOCK_KEY = 0x7D0_BAC_E2D
# Errors that mean "the database cannot be reached right now", not "this request is wrong".
_UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    sa_exc.TimeoutError,
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
)


# SQLite says "OperationalError" for a missing table too; only these mean "not now".
_SQLITE_UNAVAILABLE = ("locked", "busy", "unable to open", "disk i/o", "full", "readonly")
# SQLSTATE classes that mean "not now": connection exception, insufficient resources, and
# operator intervention (57P01 shutting down, 57P03 starting up or shutting down). SQLAlchemy
# wraps some of these (57P03 at connect) in a plain DBAPIError that it does not invalidate.
_POSTGRES_UNAVAILABLE_CLASSES = ("08", "53", "57")


def is_unavailable(error: BaseException) -> bool:
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True
        if isinstance(error.orig, sqlite3.Error):
            message = str(error.orig).lower()
            return any(marker in message for marker in _SQLITE_UNAVAILABLE)
    return any(_postgres_unavailable(cause) for cause in _causes(error))


def _causes(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__


def _postgres_unavailable(error: BaseException) -> bool:
    if isinstance(error, asyncpg.PostgresError):
        return str(error.sqlstate)[:2] in _POSTGRES_UNAVAILABLE_CLASSES
    return isinstance(error, _UNREACHABLE)


def _sqlite_locked(error: BaseException | None) -> bool:
    # Several processes opening one new SQLite file at once race to switch it to WAL; SQLite
    # answers the losers "locked" at once instead of through the busy timeout.
    return isinstance(error, sa_exc.DBAPIError) and "locked" in str(error.orig).lower()


def unavailable(error: BaseException) -> ApiError:
    # Only the class name: driver messages can carry SQL parameters, i.e. user data.
    log.warning("database_unavailable", error=type(error).__name__)
    return ApiError(503, "the database is unavailable; try again shortly", reason="database")


@contextlib.contextmanager
def _unavailable_as_503() -> Iterator[None]:
    try:
        yield
    except Exception as error:
        if is_unavailable(error):
            raise unavailable(error) from error
        raise


def create_engine(settings: BackendSettings) -> AsyncEngine:
    """An engine whose pooled connections are checked before use, so a restart is survivable."""
    if settings.database_url.startswith("sqlite"):
        engine = create_async_engine(
            settings.database_url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    connect_args: dict[str, Any] = {"timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS}
    if settings.database_schema is not None:
        connect_args["server_settings"] = {"search_path": settings.database_schema}
    return create_async_engine(
        settings.database_url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        connect_args=connect_args,
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the writer; the busy timeout makes writers wait, not fail.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
    cursor.close()


def _create_schema(connection: Connection) -> None:
    # IF NOT EXISTS rather than check-then-create: another process may be doing the same.
    for table in Base.metadata.sorted_tables:
        connection.execute(CreateTable(table, if_not_exists=True))
        for index in table.indexes:
            connection.execute(CreateIndex(index, if_not_exists=True))


class Database:
    """The engine plus what every query needs: schema readiness and unavailability mapping."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._schema_ready = False
        self._schema_lock = asyncio.Lock()
        # SQLite has one writer at a time; queueing writes here keeps them off its lock timeout.
        self._write_lock = asyncio.Lock() if engine.dialect.name == "sqlite" else None

    async def ensure_schema(self) -> None:
        """Create the table and index if missing; safe to call again and by several processes."""
        if self._schema_ready:
            return
        async with self._schema_lock:
            if self._schema_ready:
                return
            for attempt in range(1, _SCHEMA_ATTEMPTS + 1):
                try:
                    with _unavailable_as_503():
                        await self._create_schema()
                    break
                except ApiError as error:
                    if attempt == _SCHEMA_ATTEMPTS or not _sqlite_locked(error.__cause__):
                        raise
                    await asyncio.sleep(0.02 * attempt)
            self._schema_ready = True

    async def _create_schema(self) -> None:
        async with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                lock = text("SELECT pg_advisory_xact_lock(:key)")
                await connection.execute(lock, {"key": _SCHEMA_LOCK_KEY})
            await connection.run_sync(_create_schema)

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        await self.ensure_schema()
        with _unavailable_as_503():
            async with self.engine.connect() as connection:
                yield connection

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncConnection]:
        await self.ensure_schema()
        guard = self._write_lock or contextlib.nullcontext()
        with _unavailable_as_503():
            async with guard, self.engine.begin() as connection:
                yield connection


async def open_database(settings: BackendSettings) -> Database:
    """The process's database; a database that is down at start-up is retried per request."""
    database = Database(create_engine(settings))
    try:
        await database.ensure_schema()
    except ApiError:
        log.warning("database_unavailable_at_start")
    return database
