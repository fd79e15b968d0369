"""What the integration tests share: the running stack, and small task helpers."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import ClientSession

from tests.integration.keys import Issuer
from tests.integration.processes import Stack


@dataclass
class Running:
    stack: Stack
    issuer: Issuer

    def auth(self, sub: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.token(sub)}"}


def user(name: str) -> str:
    # Module-scoped stacks are shared; a fresh user id keeps each test's data its own.
    return f"{name}-{secrets.token_hex(4)}"


async def create(http: ClientSession, running: Running, sub: str, **body: Any) -> dict[str, Any]:
    url = f"{running.stack.gateway_url}/api/{sub}/tasks"
    async with http.post(url, json=body, headers=running.auth(sub)) as response:
        assert response.status == 201, await response.text()
        task: dict[str, Any] = await response.json()
        return task


async def titles(http: ClientSession, running: Running, sub: str, query: str = "") -> list[str]:
    url = f"{running.stack.gateway_url}/api/{sub}/tasks{query}"
    async with http.get(url, headers=running.auth(sub)) as response:
        assert response.status == 200, await response.text()
        return [task["title"] for task in await response.json()]


def lines_for(log: Path, request_id: str, *, wait: float = 10) -> list[dict[str, Any]]:
    """The JSON lines of `log` carrying `request_id`, waiting up to `wait` s for the first."""
    deadline = time.monotonic() + wait
    while True:
        found = [
            json.loads(line)
            for line in log.read_text().splitlines()
            if line.startswith("{") and request_id in line
        ]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)
