"""The Spec-1 API through the real app factory, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import pytest
from aiohttp import ClientResponse

from tests.backend.conftest import Api

TASK_KEYS = {"id", "user_id", "title", "description", "completed", "created_at", "updated_at"}


async def error_of(response: ClientResponse, status: int, code: str) -> dict[str, Any]:
    assert response.status == status, await response.text()
    body: dict[str, Any] = await response.json()
    assert set(body) == {"error", "message", "request_id"}
    assert body["error"] == code
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


def aware(timestamp: str) -> datetime:
    parsed = datetime.fromisoformat(timestamp)
    assert parsed.utcoffset() is not None, timestamp
    return parsed


async def test_create_returns_the_task_as_the_contract_shapes_it(api: Api) -> None:
    task = await api.create(title="  Buy milk  ", description="2 litres")
    assert set(task) == TASK_KEYS
    assert isinstance(task["id"], int)
    assert task["user_id"] == "alice"
    assert task["title"] == "Buy milk"
    assert task["description"] == "2 litres"
    assert task["completed"] is False
    assert aware(task["created_at"]) == aware(task["updated_at"])


async def test_description_is_optional_and_null(api: Api) -> None:
    task = await api.create(title="t")
    assert task["description"] is None
    assert (await api.create(title="t", description=None))["description"] is None


async def test_a_user_id_in_the_body_or_query_is_never_used(api: Api) -> None:
    task = await api.create(title="mine", user_id="bob", id=999)
    assert task["user_id"] == "alice"
    assert task["id"] != 999
    response = await api.call("GET", "/api/alice/tasks?user_id=bob")
    assert [t["user_id"] for t in await response.json()] == ["alice"]
    assert await (await api.call("GET", "/api/bob/tasks", user="bob")).json() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "   \t\n "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": 42}, "title"),
        ({"title": None}, "title"),
        ({"title": ["a"]}, "title"),
        ({"title": "nul\x00byte"}, "title"),
        ({"title": "ok", "description": "d" * 1001}, "description"),
        ({"title": "ok", "description": 7}, "description"),
        ({"title": "ok", "description": {"a": 1}}, "description"),
        ({"title": "ok", "completed": "yes"}, "completed"),
        ({"title": "ok", "completed": 1}, "completed"),
    ],
)
async def test_create_refuses_invalid_fields_naming_them(
    api: Api, body: dict[str, Any], field: str
) -> None:
    response = await api.call("POST", "/api/alice/tasks", json=body)
    error = await error_of(response, 422, "validation_error")
    assert field in error["message"]
    assert await (await api.call("GET", "/api/alice/tasks")).json() == []


async def test_limits_are_inclusive(api: Api) -> None:
    task = await api.create(title=" " + "x" * 200 + " ", description="d" * 1000)
    assert len(task["title"]) == 200
    assert len(task["description"]) == 1000


@pytest.mark.parametrize("raw", [b"", b"{", b"{'title': 'x'}", b'{"title": "\\ud800"}', b"\xff"])
async def test_malformed_json_is_a_bad_request(api: Api, raw: bytes) -> None:
    response = await api.call("POST", "/api/alice/tasks", data=raw)
    await error_of(response, 400, "bad_request")


@pytest.mark.parametrize("body", [[], ["title"], "title", 3, None])
async def test_json_that_is_not_an_object_fails_validation(api: Api, body: Any) -> None:
    raw = b"null" if body is None else None
    response = await api.call("POST", "/api/alice/tasks", json=body, data=raw)
    error = await error_of(response, 422, "validation_error")
    assert "body" in error["message"]


async def test_a_body_over_one_mebibyte_is_refused(api: Api) -> None:
    raw = b'{"title": "' + b"x" * (1024 * 1024) + b'"}'
    response = await api.call("POST", "/api/alice/tasks", data=io.BytesIO(raw))
    await error_of(response, 413, "payload_too_large")


async def test_get_returns_the_users_task(api: Api) -> None:
    task = await api.create(title="read me")
    response = await api.call("GET", f"/api/alice/tasks/{task['id']}")
    assert response.status == 200
    assert await response.json() == task


async def test_another_users_task_is_indistinguishable_from_a_missing_one(api: Api) -> None:
    theirs = await api.create(user="bob", title="bob's")
    missing = theirs["id"] + 1000
    for method in ("GET", "DELETE", "PATCH", "PUT"):
        answers = []
        for task_id in (theirs["id"], missing):
            suffix = "/complete" if method == "PATCH" else ""
            response = await api.call(
                method, f"/api/alice/tasks/{task_id}{suffix}", json={"title": "stolen"}
            )
            body = await error_of(response, 404, "not_found")
            answers.append(body["message"])
        assert answers[0] == answers[1]
    response = await api.call("GET", f"/api/bob/tasks/{theirs['id']}", user="bob")
    assert await response.json() == theirs


@pytest.mark.parametrize(
    "task_id", ["abc", "0", "-1", "1.5", "99999999999", "2147483648", "%C2%B2"]
)
async def test_an_id_that_cannot_name_a_task_is_not_found(api: Api, task_id: str) -> None:
    await api.create(title="exists")
    for method, suffix in (("GET", ""), ("PUT", ""), ("DELETE", ""), ("PATCH", "/complete")):
        response = await api.call(
            method, f"/api/alice/tasks/{task_id}{suffix}", json={"title": "x"}
        )
        await error_of(response, 404, "not_found")


async def test_put_changes_only_the_fields_given(api: Api) -> None:
    task = await api.create(title="old", description="keep")
    path = f"/api/alice/tasks/{task['id']}"
    response = await api.call("PUT", path, json={"title": "  new  "})
    assert response.status == 200
    updated = await response.json()
    assert (updated["title"], updated["description"], updated["completed"]) == (
        "new",
        "keep",
        False,
    )
    assert updated["created_at"] == task["created_at"]
    assert aware(updated["updated_at"]) > aware(task["updated_at"])
    response = await api.call("PUT", path, json={"description": None, "completed": True})
    updated = await response.json()
    assert (updated["title"], updated["description"], updated["completed"]) == ("new", None, True)
    assert await (await api.call("GET", path)).json() == updated


async def test_put_with_every_field(api: Api) -> None:
    task = await api.create(title="a")
    body = {"title": "b", "description": "c", "completed": True, "user_id": "bob"}
    response = await api.call("PUT", f"/api/alice/tasks/{task['id']}", json=body)
    updated = await response.json()
    assert {k: updated[k] for k in body} == body | {"user_id": "alice"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "title"),
        ({"unknown": 1}, "title"),
        ({"title": ""}, "title"),
        ({"title": None}, "title"),
        ({"description": "d" * 1001}, "description"),
        ({"completed": None}, "completed"),
        ({"completed": "true"}, "completed"),
    ],
)
async def test_put_refuses_invalid_fields(api: Api, body: dict[str, Any], field: str) -> None:
    task = await api.create(title="unchanged")
    path = f"/api/alice/tasks/{task['id']}"
    error = await error_of(await api.call("PUT", path, json=body), 422, "validation_error")
    assert field in error["message"]
    assert await (await api.call("GET", path)).json() == task


async def test_put_with_malformed_json_is_a_bad_request(api: Api) -> None:
    task = await api.create(title="unchanged")
    response = await api.call("PUT", f"/api/alice/tasks/{task['id']}", data=b"{nope")
    await error_of(response, 400, "bad_request")


async def test_patch_complete_toggles(api: Api) -> None:
    task = await api.create(title="toggle me")
    path = f"/api/alice/tasks/{task['id']}/complete"
    first = await (await api.call("PATCH", path)).json()
    assert first["completed"] is True
    assert aware(first["updated_at"]) > aware(task["updated_at"])
    second = await api.call("PATCH", path)
    assert second.status == 200
    assert (await second.json())["completed"] is False


async def test_delete_answers_204_then_404(api: Api) -> None:
    task = await api.create(title="bye")
    path = f"/api/alice/tasks/{task['id']}"
    response = await api.call("DELETE", path)
    assert response.status == 204
    assert await response.read() == b""
    await error_of(await api.call("DELETE", path), 404, "not_found")
    await error_of(await api.call("GET", path), 404, "not_found")


async def test_delete_of_another_users_task_leaves_it(api: Api) -> None:
    theirs = await api.create(user="bob", title="bob's")
    await error_of(await api.call("DELETE", f"/api/alice/tasks/{theirs['id']}"), 404, "not_found")
    response = await api.call("GET", f"/api/bob/tasks/{theirs['id']}", user="bob")
    assert response.status == 200


async def test_healthz_needs_no_identity(api: Api) -> None:
    response = await api.call("GET", "/healthz", signed=False)
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_unknown_routes_and_methods_answer_contract_json(api: Api) -> None:
    await error_of(await api.call("GET", "/api/alice/notes"), 404, "not_found")
    await error_of(await api.call("GET", "/api/alice/tasks/1/complete"), 405, "method_not_allowed")


async def test_request_id_is_echoed(api: Api) -> None:
    headers = {"X-Request-ID": "trace-42"}
    # The signature binds the request id, so sign with the same one.
    from tests.backend.conftest import identity_headers

    signed = identity_headers("GET", "/api/alice/tasks", "alice", request_id="trace-42")
    response = await api.call("GET", "/api/alice/tasks", headers=headers | signed, signed=False)
    assert response.status == 200
    assert response.headers["X-Request-ID"] == "trace-42"
