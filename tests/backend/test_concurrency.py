"""Many writers at once lose nothing, on either database."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from backend import service
from backend.config import BackendSettings
from tests.backend.conftest import Api, ClientFactory, serve_backend

WRITERS = 20
CREATES_EACH = 50
TRIALS = 10


async def test_concurrent_writers_lose_nothing(api: Api) -> None:
    async def writer(number: int) -> list[int]:
        user = f"writer{number % 4}"
        ids = []
        for index in range(CREATES_EACH):
            task = await api.create(user=user, title=f"w{number}-{index}")
            ids.append(task["id"])
        return ids

    created = await asyncio.gather(*(writer(number) for number in range(WRITERS)))
    all_ids = [task_id for ids in created for task_id in ids]
    assert len(set(all_ids)) == WRITERS * CREATES_EACH
    titles: set[str] = set()
    for user_number in range(4):
        user = f"writer{user_number}"
        response = await api.call("GET", f"/api/{user}/tasks?limit=1000", user=user)
        tasks = await response.json()
        assert {task["user_id"] for task in tasks} == {user}
        titles.update(task["title"] for task in tasks)
    expected = {f"w{n}-{i}" for n in range(WRITERS) for i in range(CREATES_EACH)}
    assert titles == expected


async def test_concurrent_toggles_are_not_lost(api: Api) -> None:
    task = await api.create(title="flip")
    path = f"/api/alice/tasks/{task['id']}/complete"
    responses = await asyncio.gather(*(api.call("PATCH", path) for _ in range(20)))
    assert {response.status for response in responses} == {200}
    final = await (await api.call("GET", f"/api/alice/tasks/{task['id']}")).json()
    assert final["completed"] is False


async def test_updated_at_never_goes_backwards(
    aiohttp_client: ClientFactory, settings: BackendSettings
) -> None:
    # Two apps on one database stand for two backend processes: neither's locks cover the other.
    apis = [await serve_backend(aiohttp_client, settings) for _ in range(2)]
    task = await apis[0].create(title="raced")
    path = f"/api/alice/tasks/{task['id']}"
    for trial in range(TRIALS):
        responses = await asyncio.gather(
            *(
                apis[number % 2].call("PUT", path, json={"title": f"t{trial}-{number}"})
                for number in range(WRITERS)
            )
        )
        assert {response.status for response in responses} == {200}
        returned = [datetime.fromisoformat((await r.json())["updated_at"]) for r in responses]
        stored = await (await apis[0].call("GET", path)).json()
        assert datetime.fromisoformat(stored["updated_at"]) >= max(returned), trial


async def test_a_clock_stepped_back_does_not_move_updated_at_backwards(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = await api.create(title="before the step")
    before = datetime.fromisoformat(task["updated_at"])
    monkeypatch.setattr(service, "_now", lambda: before - timedelta(hours=1))
    response = await api.call("PUT", f"/api/alice/tasks/{task['id']}", json={"completed": True})
    assert response.status == 200
    assert datetime.fromisoformat((await response.json())["updated_at"]) >= before
