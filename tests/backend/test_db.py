"""The schema is created once, however many processes start at the same moment."""

from __future__ import annotations

import asyncio

from backend.config import BackendSettings
from backend.db import Database, create_engine


async def test_concurrent_schema_creation_is_safe(settings: BackendSettings) -> None:
    databases = [Database(create_engine(settings)) for _ in range(6)]
    try:
        await asyncio.gather(*(database.ensure_schema() for database in databases))
        async with databases[0].reading() as connection:
            tables = await connection.run_sync(lambda sync: sync.dialect.get_table_names(sync))
        assert tables == ["tasks"]
    finally:
        await asyncio.gather(*(database.engine.dispose() for database in databases))
