"""Turning request bodies and query strings into checked values, or a contract error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import orjson

from backend.service import ListQuery, Order, Sort, Status
from service_plumbing.errors import ApiError

TITLE_MAX = 200
DESCRIPTION_MAX = 1000
LIMIT_DEFAULT = 100
LIMIT_MAX = 1000
OFFSET_MAX = 2**31 - 1
TASK_ID_MAX = 2**31 - 1

_CHOICES: dict[str, tuple[str, ...]] = {
    "status": ("all", "pending", "completed"),
    "sort": ("created", "title", "updated"),
    "order": ("asc", "desc"),
}


def invalid(field: str, problem: str) -> ApiError:
    return ApiError(422, f"{field} {problem}", code="validation_error")


def parse_body(raw: bytes) -> dict[str, Any]:
    """A JSON object, or 400 (not JSON) / 422 (JSON, but not an object)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError(400, "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(422, "body must be a JSON object", code="validation_error")
    return body


def _text(body: Mapping[str, Any], field: str, maximum: int) -> str:
    value = body[field]
    if not isinstance(value, str):
        raise invalid(field, "must be a string")
    if "\x00" in value:
        raise invalid(field, "must not contain NUL characters")
    if len(value) > maximum:
        raise invalid(field, f"must be at most {maximum} characters")
    return value


def _title(body: Mapping[str, Any]) -> str:
    title = _text(body, "title", 10 * TITLE_MAX).strip()
    if not title:
        raise invalid("title", "must not be empty")
    if len(title) > TITLE_MAX:
        raise invalid("title", f"must be at most {TITLE_MAX} characters")
    return title


def _description(body: Mapping[str, Any]) -> str | None:
    if body["description"] is None:
        return None
    return _text(body, "description", DESCRIPTION_MAX)


def _completed(body: Mapping[str, Any]) -> bool:
    value = body["completed"]
    if not isinstance(value, bool):
        raise invalid("completed", "must be true or false")
    return value


_FIELD_PARSERS = {"title": _title, "description": _description, "completed": _completed}


def new_task_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """Fields for a new task. Unknown keys (a `user_id`, an `id`) are ignored, never stored."""
    if "title" not in body:
        raise invalid("title", "is required")
    return {name: parse(body) for name, parse in _FIELD_PARSERS.items() if name in body}


def update_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    fields = {name: parse(body) for name, parse in _FIELD_PARSERS.items() if name in body}
    if not fields:
        raise ApiError(
            422,
            "body must set at least one of title, description, completed",
            code="validation_error",
        )
    return fields


def list_query(query: Mapping[str, str]) -> ListQuery:
    """`?status=&sort=&order=&limit=&offset=`; a bad value is a 400 naming the parameter."""
    choices = {name: _choice(query, name) for name in _CHOICES}
    return ListQuery(
        status=cast(Status, choices["status"] or "all"),
        sort=cast(Sort, choices["sort"] or "created"),
        order=cast(Order, choices["order"] or "asc"),
        limit=_integer(query, "limit", LIMIT_DEFAULT, minimum=1, maximum=LIMIT_MAX),
        offset=_integer(query, "offset", 0, minimum=0, maximum=OFFSET_MAX),
    )


def _choice(query: Mapping[str, str], name: str) -> str | None:
    value = query.get(name)
    if value is None or value == "":
        return None
    if value not in _CHOICES[name]:
        raise ApiError(400, f"{name} must be one of {', '.join(_CHOICES[name])}")
    return value


def _integer(
    query: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int
) -> int:
    value = query.get(name)
    if value is None or value == "":
        return default
    if not value.isascii() or not value.isdigit() or len(value) > 10:
        raise ApiError(400, f"{name} must be an integer between {minimum} and {maximum}")
    number = int(value)
    if not minimum <= number <= maximum:
        raise ApiError(400, f"{name} must be an integer between {minimum} and {maximum}")
    return number


def task_id(raw: str) -> int | None:
    """The task id from the path; None for anything that cannot name a task (answered 404)."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 10:
        return None
    number = int(raw)
    return number if 0 < number <= TASK_ID_MAX else None
