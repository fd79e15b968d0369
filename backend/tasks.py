"""The Spec-1 task handlers: parse, call one user-scoped query, answer JSON."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from backend import service, validation
from backend.db import Database
from backend.request_body import read_body
from backend.trust import verified_user
from service_plumbing.errors import ApiError

DATABASE = web.AppKey("database", Database)


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def not_found() -> ApiError:
    # The same answer for a missing task, another user's task and an id that cannot exist.
    return ApiError(404, "no such task")


def _found(task: dict[str, Any] | None) -> web.Response:
    if task is None:
        raise not_found()
    return json_response(task)


def _task_id(request: web.Request) -> int:
    task_id = validation.task_id(request.match_info["task_id"])
    if task_id is None:
        raise not_found()
    return task_id


async def _body(request: web.Request) -> dict[str, Any]:
    return validation.parse_body(await read_body(request))


async def list_tasks(request: web.Request) -> web.Response:
    query = validation.list_query(request.query)
    async with request.app[DATABASE].reading() as connection:
        tasks = await service.list_tasks(connection, verified_user(request), query)
    return json_response(tasks)


async def create_task(request: web.Request) -> web.Response:
    fields = validation.new_task_fields(await _body(request))
    async with request.app[DATABASE].writing() as connection:
        task = await service.create_task(connection, verified_user(request), fields)
    return json_response(task, status=201)


async def get_task(request: web.Request) -> web.Response:
    task_id = _task_id(request)
    async with request.app[DATABASE].reading() as connection:
        task = await service.get_task(connection, verified_user(request), task_id)
    return _found(task)


async def update_task(request: web.Request) -> web.Response:
    task_id = _task_id(request)
    fields = validation.update_fields(await _body(request))
    async with request.app[DATABASE].writing() as connection:
        task = await service.update_task(connection, verified_user(request), task_id, fields)
    return _found(task)


async def toggle_task(request: web.Request) -> web.Response:
    task_id = _task_id(request)
    async with request.app[DATABASE].writing() as connection:
        task = await service.toggle_task(connection, verified_user(request), task_id)
    return _found(task)


async def delete_task(request: web.Request) -> web.Response:
    task_id = _task_id(request)
    async with request.app[DATABASE].writing() as connection:
        deleted = await service.delete_task(connection, verified_user(request), task_id)
    if not deleted:
        raise not_found()
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    tasks = "/api/{user_id}/tasks"
    task = tasks + "/{task_id}"
    app.router.add_get(tasks, list_tasks, allow_head=False)
    app.router.add_post(tasks, create_task)
    app.router.add_get(task, get_task, allow_head=False)
    app.router.add_put(task, update_task)
    app.router.add_delete(task, delete_task)
    app.router.add_patch(task + "/complete", toggle_task)
