"""Listing: status filter, sort, order and paging, on both databases."""

from __future__ import annotations

from typing import Any

import pytest

from tests.backend.conftest import Api
from tests.backend.test_tasks import error_of


async def titles(api: Api, query: str) -> list[str]:
    response = await api.call("GET", "/api/alice/tasks" + query)
    assert response.status == 200, await response.text()
    tasks: list[dict[str, Any]] = await response.json()
    return [task["title"] for task in tasks]


@pytest.fixture
async def three(api: Api) -> Api:
    """banana (done), Apple, cherry -- created in that order; then Apple is edited."""
    banana = await api.create(title="banana")
    await api.call("PATCH", f"/api/alice/tasks/{banana['id']}/complete")
    apple = await api.create(title="Apple")
    await api.create(title="cherry")
    await api.call("PUT", f"/api/alice/tasks/{apple['id']}", json={"description": "edited"})
    await api.create(user="bob", title="bob's")
    return api


async def test_default_is_every_task_in_creation_order(three: Api) -> None:
    assert await titles(three, "") == ["banana", "Apple", "cherry"]
    assert await titles(three, "?status=all&sort=created&order=asc") == [
        "banana",
        "Apple",
        "cherry",
    ]


async def test_status_filter(three: Api) -> None:
    assert await titles(three, "?status=completed") == ["banana"]
    assert await titles(three, "?status=pending") == ["Apple", "cherry"]


async def test_sorts(three: Api) -> None:
    assert await titles(three, "?sort=title") == ["Apple", "banana", "cherry"]
    assert await titles(three, "?sort=title&order=desc") == ["cherry", "banana", "Apple"]
    assert await titles(three, "?sort=updated") == ["banana", "cherry", "Apple"]
    assert await titles(three, "?sort=created&order=desc") == ["cherry", "Apple", "banana"]


async def test_limit_and_offset(three: Api) -> None:
    assert await titles(three, "?limit=2") == ["banana", "Apple"]
    assert await titles(three, "?limit=2&offset=2") == ["cherry"]
    assert await titles(three, "?offset=3") == []
    assert await titles(three, "?limit=1000&offset=2147483647") == []
    assert await titles(three, "?status=pending&sort=title&limit=1&offset=1") == ["cherry"]


async def test_empty_values_mean_the_default(three: Api) -> None:
    assert await titles(three, "?status=&sort=&limit=&offset=") == ["banana", "Apple", "cherry"]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("?status=done", "status"),
        ("?status=ALL", "status"),
        ("?sort=priority", "sort"),
        ("?order=up", "order"),
        ("?limit=0", "limit"),
        ("?limit=1001", "limit"),
        ("?limit=abc", "limit"),
        ("?limit=-5", "limit"),
        ("?limit=1.5", "limit"),
        ("?limit=99999999999999999999", "limit"),
        ("?offset=-1", "offset"),
        ("?offset=x", "offset"),
        ("?offset=2147483648", "offset"),
        ("?offset=%EF%BC%91", "offset"),
    ],
)
async def test_bad_query_values_are_bad_requests_naming_the_parameter(
    api: Api, query: str, parameter: str
) -> None:
    response = await api.call("GET", "/api/alice/tasks" + query)
    error = await error_of(response, 400, "bad_request")
    assert parameter in error["message"]
