"""The database stops: the gateway's /readyz says 503 (through the backend's); it is back: 200."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.backend.throwaway_postgres import ThrowawayPostgres
from tests.integration.keys import SecretIssuer
from tests.integration.processes import Stack, http_status

pytestmark = pytest.mark.postgres


@pytest.fixture
def stack(tmp_path: Path, postgres: ThrowawayPostgres) -> Iterator[Stack]:
    url = postgres.url.replace("+asyncpg", "", 1)
    running = Stack(tmp_path, database_url=url, auth_env=SecretIssuer().env)
    try:
        running.start()  # waits for the gateway's /readyz: the database answers
        yield running
    finally:
        running.stop()


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _wait_for(url: str, status: int) -> Any:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        got, body = _get(url)
        if got == status:
            return body
        time.sleep(0.2)
    raise AssertionError(f"{url} never answered {status}")


def test_gateway_readyz_follows_the_database(stack: Stack, postgres: ThrowawayPostgres) -> None:
    postgres.stop()
    body = _wait_for(f"{stack.gateway_url}/readyz", 503)
    assert body["error"] == "unavailable"
    assert body["checks"]["backend"] is False
    assert _get(f"{stack.backend_url}/readyz")[1]["error"] == "unavailable"
    assert http_status(f"{stack.gateway_url}/healthz") == 200
    assert http_status(f"{stack.backend_url}/healthz") == 200

    postgres.start()
    assert _wait_for(f"{stack.gateway_url}/readyz", 200)["checks"]["backend"] is True
