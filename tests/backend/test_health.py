"""`/healthz` is liveness only; `/readyz` asks the database, at most about once a second."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event

from backend.config import BackendSettings
from backend.db import Database, create_engine
from backend.health import Readiness
from backend.tasks import DATABASE
from tests.backend.conftest import Api, ClientFactory, serve_backend, settings_for
from tests.backend.test_tasks import error_of
from tests.backend.throwaway_postgres import ThrowawayPostgres

PROBES = 200


def count_statements(database: Database) -> list[str]:
    """Every statement the database is sent from now on."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])  # (connection, cursor, statement, ...)

    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    return seen


async def test_readyz_is_ready_without_a_signature(api: Api) -> None:
    response = await api.call("GET", "/readyz", signed=False)
    assert response.status == 200
    assert await response.json() == {"status": "ready"}


async def test_a_probe_flood_asks_the_database_once(sqlite_api: Api) -> None:
    assert sqlite_api.client.app is not None
    statements = count_statements(sqlite_api.client.app[DATABASE])
    responses = await asyncio.gather(
        *(sqlite_api.call("GET", "/readyz", signed=False) for _ in range(PROBES))
    )
    assert {response.status for response in responses} == {200}
    assert statements == ["SELECT 1"]


async def test_the_answer_is_kept_about_a_second(sqlite_settings: BackendSettings) -> None:
    now = [100.0]
    database = Database(create_engine(sqlite_settings))
    readiness = Readiness(database, cache_seconds=1.0, clock=lambda: now[0])
    statements = count_statements(database)
    try:
        assert await readiness.ready()
        now[0] += 0.9
        assert await readiness.ready()
        assert statements.count("SELECT 1") == 1
        now[0] += 0.2
        assert await readiness.ready()
        assert statements.count("SELECT 1") == 2
    finally:
        await database.engine.dispose()


async def _wait_for_status(api: Api, path: str, status: int) -> Any:
    for _ in range(100):
        response = await api.call("GET", path, signed=False)
        if response.status == status:
            return response
        await asyncio.sleep(0.1)
    raise AssertionError(f"{path} never answered {status}")


@pytest.mark.postgres
async def test_readyz_follows_the_database_and_healthz_does_not(
    aiohttp_client: ClientFactory, postgres: ThrowawayPostgres
) -> None:
    api = await serve_backend(aiohttp_client, settings_for(postgres.url))
    assert (await api.call("GET", "/readyz", signed=False)).status == 200

    postgres.stop()
    await error_of(await _wait_for_status(api, "/readyz", 503), 503, "unavailable")
    assert (await api.call("GET", "/healthz", signed=False)).status == 200

    postgres.start()
    body = await (await _wait_for_status(api, "/readyz", 200)).json()
    assert body == {"status": "ready"}
