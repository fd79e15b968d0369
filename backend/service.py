"""User-scoped queries: every statement here filters by the verified user id."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Interval,
    Row,
    delete,
    func,
    insert,
    literal,
    not_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from backend.models import TASK_COLUMNS, Task, UtcDateTime

Status = Literal["all", "pending", "completed"]
Sort = Literal["created", "title", "updated"]
Order = Literal["asc", "desc"]

_SORT_KEYS: dict[str, tuple[Any, ...]] = {
    "created": (Task.created_at, Task.id),
    "title": (func.lower(Task.title), Task.title, Task.id),
    "updated": (Task.updated_at, Task.id),
}


@dataclass(frozen=True, slots=True)
class ListQuery:
    status: Status = "all"
    sort: Sort = "created"
    order: Order = "asc"
    limit: int = 100
    offset: int = 0


def _now() -> datetime:
    return datetime.now(UTC)


def _owned(user_id: str, task_id: int) -> ColumnElement[bool]:
    return (Task.user_id == user_id) & (Task.id == task_id)


def as_json(row: Row[*tuple[Any, ...]]) -> dict[str, Any]:
    return dict(row._mapping)


async def list_tasks(
    connection: AsyncConnection, user_id: str, query: ListQuery
) -> list[dict[str, Any]]:
    statement = select(*TASK_COLUMNS).where(Task.user_id == user_id)
    if query.status == "pending":
        statement = statement.where(not_(Task.completed))
    elif query.status == "completed":
        statement = statement.where(Task.completed)
    keys = _SORT_KEYS[query.sort]
    ordering = [key.desc() if query.order == "desc" else key.asc() for key in keys]
    statement = statement.order_by(*ordering).limit(query.limit).offset(query.offset)
    result = await connection.execute(statement)
    return [as_json(row) for row in result]


async def create_task(
    connection: AsyncConnection, user_id: str, fields: Mapping[str, Any]
) -> dict[str, Any]:
    now = _now()
    values = {"completed": False, "description": None, **fields}
    statement = (
        insert(Task)
        .values(user_id=user_id, created_at=now, updated_at=now, **values)
        .returning(*TASK_COLUMNS)
    )
    result = await connection.execute(statement)
    return as_json(result.one())


async def get_task(
    connection: AsyncConnection, user_id: str, task_id: int
) -> dict[str, Any] | None:
    result = await connection.execute(select(*TASK_COLUMNS).where(_owned(user_id, task_id)))
    row = result.one_or_none()
    return None if row is None else as_json(row)


def _next_updated_at(dialect: str) -> ColumnElement[datetime]:
    """Now, but never before the stored value: computed in the UPDATE, under its row lock.

    A clock read before the statement can lose the race for the row to a later one, and the
    stored time would then go backwards. PostgreSQL re-evaluates this against the row version
    it waited for; SQLite has one writer at a time and its text timestamps sort as times.
    """
    now = literal(_now(), UtcDateTime)
    if dialect == "postgresql":
        step = literal(timedelta(microseconds=1), Interval)
        return func.greatest(now, Task.updated_at + step, type_=UtcDateTime)
    return func.max(now, Task.updated_at, type_=UtcDateTime)


async def update_task(
    connection: AsyncConnection, user_id: str, task_id: int, fields: Mapping[str, Any]
) -> dict[str, Any] | None:
    statement = (
        update(Task)
        .where(_owned(user_id, task_id))
        .values(updated_at=_next_updated_at(connection.dialect.name), **fields)
        .returning(*TASK_COLUMNS)
    )
    row = (await connection.execute(statement)).one_or_none()
    return None if row is None else as_json(row)


async def toggle_task(
    connection: AsyncConnection, user_id: str, task_id: int
) -> dict[str, Any] | None:
    """Flip `completed` in one statement, so two toggles at once cannot both read the old value."""
    return await update_task(connection, user_id, task_id, {"completed": not_(Task.completed)})


async def delete_task(connection: AsyncConnection, user_id: str, task_id: int) -> bool:
    statement = delete(Task).where(_owned(user_id, task_id)).returning(Task.id)
    return (await connection.execute(statement)).one_or_none() is not None
