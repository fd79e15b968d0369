"""Fixtures for the backend: the real app over SQLite and PostgreSQL, and signed requests."""

from __future__ import annotations

import hmac
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from backend.app import SERVER_OPTIONS, create_app
from backend.config import BackendSettings

SECRET = b"backend-test-secret-0123456789abcdef"
OLD_SECRET = b"backend-old-secret-0123456789abcdefgh"
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"

ClientFactory = Callable[..., Any]


def settings_for(database_url: str, **overrides: Any) -> BackendSettings:
    defaults: dict[str, Any] = {"identity_secrets": (SECRET, OLD_SECRET)}
    return BackendSettings(database_url=database_url, **(defaults | overrides))


def sqlite_url(directory: Path) -> str:
    return f"sqlite+aiosqlite:///{directory / 'todo.db'}"


def identity_headers(
    method: str,
    path_qs: str,
    user: str,
    *,
    secret: bytes = SECRET,
    timestamp: int | None = None,
    request_id: str | None = None,
) -> dict[str, str]:
    """What the gateway would add to this request (signed here with `hmac`, as the README
    describes, so the backend is not checked with its own code)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    request_id = request_id or uuid.uuid4().hex
    canonical = "\n".join(("v1", stamp, method.upper(), path_qs, user, request_id))
    digest = hmac.new(secret, canonical.encode(), "sha256").hexdigest()
    return {
        "X-User-Id": user,
        "X-Gateway-Timestamp": stamp,
        "X-Gateway-Signature": f"v1={digest}",
        "X-Request-ID": request_id,
    }


async def serve_backend(aiohttp_client: ClientFactory, settings: BackendSettings) -> Api:
    """The real app, served with the options the production runner gives it."""
    # `aiohttp_client(app, server_kwargs=...)` would drop them: TestServer takes them at start.
    server = TestServer(create_app(settings))
    await server.start_server(**SERVER_OPTIONS)
    return Api(await aiohttp_client(server))


class Api:
    """Requests as the gateway sends them: signed for `user` unless told otherwise."""

    def __init__(self, client: TestClient[Any, Any]) -> None:
        self.client = client

    async def call(
        self,
        method: str,
        path: str,
        *,
        user: str = "alice",
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        signed: bool = True,
    ) -> ClientResponse:
        sent = identity_headers(method, path, user) if signed else {}
        sent |= dict(headers or {})
        if json is not None:
            data = orjson.dumps(json)
        return await self.client.request(method, path, data=data, headers=sent)

    async def create(self, user: str = "alice", **fields: Any) -> dict[str, Any]:
        response = await self.call("POST", f"/api/{user}/tasks", user=user, json=fields)
        assert response.status == 201, await response.text()
        task: dict[str, Any] = await response.json()
        return task


async def create_schema() -> str:
    name = "backend_test_" + uuid.uuid4().hex
    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        await connection.execute(f'CREATE SCHEMA "{name}"')
    finally:
        await connection.close()
    return name


async def drop_schema(name: str) -> None:
    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def settings(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[BackendSettings]:
    """SQLite (a temp file) and PostgreSQL (a fresh schema, dropped afterwards)."""
    if request.param == "sqlite":
        yield settings_for(sqlite_url(tmp_path))
        return
    schema = await create_schema()
    try:
        yield settings_for(
            POSTGRES_URL.replace("postgresql", "postgresql+asyncpg", 1), database_schema=schema
        )
    finally:
        await drop_schema(schema)


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> BackendSettings:
    return settings_for(sqlite_url(tmp_path))


@pytest.fixture
async def api(aiohttp_client: ClientFactory, settings: BackendSettings) -> Api:
    """The real app on both databases."""
    return await serve_backend(aiohttp_client, settings)


@pytest.fixture
async def sqlite_api(aiohttp_client: ClientFactory, sqlite_settings: BackendSettings) -> Api:
    """The real app on SQLite, for tests that are about HTTP and trust, not storage."""
    return await serve_backend(aiohttp_client, sqlite_settings)
