"""PostgreSQL going away mid-run is a 503, and the backend recovers once it is back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backend.app import create_app
from tests.backend.conftest import Api, ClientFactory, settings_for
from tests.backend.test_tasks import error_of
from tests.backend.throwaway_postgres import ThrowawayPostgres

pytestmark = pytest.mark.postgres


@pytest.fixture
def postgres() -> Iterator[ThrowawayPostgres]:
    cluster = ThrowawayPostgres()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


async def test_database_stopped_mid_run_is_503_then_recovers(
    aiohttp_client: ClientFactory, postgres: ThrowawayPostgres
) -> None:
    api = Api(await aiohttp_client(create_app(settings_for(postgres.url))))
    task = await api.create(title="survives a restart")

    postgres.stop()
    await error_of(await api.call("GET", "/api/alice/tasks"), 503, "unavailable")
    await error_of(
        await api.call("POST", "/api/alice/tasks", json={"title": "x"}), 503, "unavailable"
    )
    await error_of(
        await api.call("PATCH", f"/api/alice/tasks/{task['id']}/complete"), 503, "unavailable"
    )
    assert (await api.call("GET", "/healthz", signed=False)).status == 200

    postgres.start()
    response = await api.call("GET", "/api/alice/tasks")
    assert response.status == 200
    assert await response.json() == [task]
    assert (await api.create(title="after"))["id"] > task["id"]


async def test_database_down_at_start_is_503_until_it_comes_up(
    aiohttp_client: ClientFactory, postgres: ThrowawayPostgres
) -> None:
    postgres.stop()
    api = Api(await aiohttp_client(create_app(settings_for(postgres.url))))
    await error_of(await api.call("GET", "/api/alice/tasks"), 503, "unavailable")

    postgres.start()
    task = await api.create(title="schema made on first use")
    response = await api.call("GET", "/api/alice/tasks")
    assert await response.json() == [task]


async def test_a_restart_between_requests_is_invisible(
    aiohttp_client: ClientFactory, postgres: ThrowawayPostgres
) -> None:
    api = Api(await aiohttp_client(create_app(settings_for(postgres.url))))
    task = await api.create(title="pooled connection goes stale")
    postgres.stop()
    postgres.start()
    # The pooled connection died with the server; it is checked before use and replaced.
    response = await api.call("GET", f"/api/alice/tasks/{task['id']}")
    assert response.status == 200
    assert await response.json() == task
