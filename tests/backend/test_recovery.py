"""PostgreSQL going away mid-run is a 503, and the backend recovers once it is back."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from tests.backend.conftest import ClientFactory, serve_backend, settings_for
from tests.backend.test_tasks import error_of
from tests.backend.throwaway_postgres import ThrowawayPostgres

pytestmark = pytest.mark.postgres


async def test_database_stopped_mid_run_is_503_then_recovers(
    aiohttp_client: ClientFactory, postgres: ThrowawayPostgres
) -> None:
    api = await serve_backend(aiohttp_client, settings_for(postgres.url))
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
    api = await serve_backend(aiohttp_client, settings_for(postgres.url))
    await error_of(await api.call("GET", "/api/alice/tasks"), 503, "unavailable")

    postgres.start()
    task = await api.create(title="schema made on first use")
    response = await api.call("GET", "/api/alice/tasks")
    assert await response.json() == [task]


async def test_a_restart_between_requests_is_invisible(
    aiohttp_client: ClientFactory, postgres: ThrowawayPostgres
) -> None:
    api = await serve_backend(aiohttp_client, settings_for(postgres.url))
    task = await api.create(title="pooled connection goes stale")
    postgres.stop()
    postgres.start()
    # The pooled connection died with the server; it is checked before use and replaced.
    response = await api.call("GET", f"/api/alice/tasks/{task['id']}")
    assert response.status == 200
    assert await response.json() == task


async def _terminate_other_sessions(held: asyncpg.Connection) -> None:
    await held.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'"
    )


async def test_a_server_shutting_down_refuses_new_sessions_with_503(
    aiohttp_client: ClientFactory, postgres: ThrowawayPostgres
) -> None:
    api = await serve_backend(aiohttp_client, settings_for(postgres.url))
    task = await api.create(title="before the shutdown")
    held = await asyncpg.connect(postgres.url.replace("+asyncpg", ""))
    try:
        # The pooled session dies (57P01); the held one keeps a smart shutdown waiting, during
        # which every new session is refused with 57P03 "the database system is shutting down".
        await _terminate_other_sessions(held)
        postgres.begin_smart_shutdown()
        for method, path in [
            ("GET", "/api/alice/tasks"),
            ("GET", f"/api/alice/tasks/{task['id']}"),
            ("PATCH", f"/api/alice/tasks/{task['id']}/complete"),
        ]:
            await error_of(await api.call(method, path), 503, "unavailable")
    finally:
        await held.close()


async def test_a_session_terminated_mid_query_is_503(
    aiohttp_client: ClientFactory, postgres: ThrowawayPostgres
) -> None:
    api = await serve_backend(aiohttp_client, settings_for(postgres.url))
    task = await api.create(title="locked")
    held = await asyncpg.connect(postgres.url.replace("+asyncpg", ""))
    try:
        async with held.transaction():
            await held.execute("SELECT 1 FROM tasks WHERE id = $1 FOR UPDATE", task["id"])
            path = f"/api/alice/tasks/{task['id']}"
            update = asyncio.create_task(api.call("PUT", path, json={"title": "blocked"}))
            await _wait_for_lock_waiter(held)
            await _terminate_other_sessions(held)
            await error_of(await update, 503, "unavailable")
    finally:
        await held.close()


async def _wait_for_lock_waiter(held: asyncpg.Connection) -> None:
    waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
    for _ in range(500):
        if await held.fetchval(waiting):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the update never waited for the row lock")


async def test_a_server_still_starting_up_is_503_then_serves(
    aiohttp_client: ClientFactory, postgres: ThrowawayPostgres
) -> None:
    api = await serve_backend(aiohttp_client, settings_for(postgres.url))
    task = await api.create(title="before the restart")
    postgres.stop()
    postgres.start_still_recovering()
    try:
        # Until it listens the answer is 503 too; once it does, every session gets 57P03.
        for _ in range(3):
            await error_of(await api.call("GET", "/api/alice/tasks"), 503, "unavailable")
        await _wait_until_refusing_with_57p03(postgres)
        await error_of(await api.call("GET", f"/api/alice/tasks/{task['id']}"), 503, "unavailable")
        await error_of(
            await api.call("POST", "/api/alice/tasks", json={"title": "x"}), 503, "unavailable"
        )
    finally:
        postgres.leave_recovery()
    response = await api.call("GET", f"/api/alice/tasks/{task['id']}")
    assert (response.status, await response.json()) == (200, task)


async def _wait_until_refusing_with_57p03(postgres: ThrowawayPostgres) -> None:
    for _ in range(300):
        try:
            connection = await asyncpg.connect(postgres.url.replace("+asyncpg", ""))
        except asyncpg.exceptions.CannotConnectNowError:
            return
        except OSError:
            await asyncio.sleep(0.05)
            continue
        await connection.close()
        raise AssertionError("the server accepted a session while recovering")
    raise AssertionError("the server never started listening")


async def test_steady_traffic_across_restarts_never_gets_a_500(
    aiohttp_client: ClientFactory, postgres: ThrowawayPostgres
) -> None:
    api = await serve_backend(aiohttp_client, settings_for(postgres.url))
    task = await api.create(title="under load")
    statuses: list[int] = []
    running = True

    async def client(number: int) -> None:
        path = f"/api/alice/tasks/{task['id']}"
        while running:
            if number % 3 == 0:
                response = await api.call("GET", "/api/alice/tasks")
            elif number % 3 == 1:
                response = await api.call("POST", "/api/alice/tasks", json={"title": "x"})
            else:
                response = await api.call("PUT", path, json={"completed": True})
            statuses.append(response.status)
            response.release()

    clients = [asyncio.create_task(client(number)) for number in range(6)]
    try:
        # "fast" ends every session with 57P01, "immediate" just drops them.
        for mode in ("fast", "immediate", "fast"):
            await asyncio.sleep(0.3)
            await asyncio.to_thread(postgres.stop, mode)
            await asyncio.sleep(0.3)
            await asyncio.to_thread(postgres.start)
        await asyncio.sleep(0.3)
    finally:
        running = False
        await asyncio.gather(*clients)
    assert set(statuses) <= {200, 201, 503}, sorted(set(statuses))
    assert {200, 201, 503} <= set(statuses)
