"""Many writers at once lose nothing, on either database."""

from __future__ import annotations

import asyncio

from tests.backend.conftest import Api

WRITERS = 20
CREATES_EACH = 50


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
