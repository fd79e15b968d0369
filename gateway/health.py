"""Liveness and readiness, answered by the gateway itself."""

from __future__ import annotations

from typing import Protocol

import aiohttp
import orjson
from aiohttp import web

from gateway.config import GatewaySettings


class Readiness(Protocol):
    def readiness(self) -> dict[str, bool]: ...


class Health:
    def __init__(
        self, settings: GatewaySettings, session: aiohttp.ClientSession, keys: Readiness
    ) -> None:
        readiness = settings.readiness
        self._probe_url = settings.upstream(readiness.upstream).url + readiness.path
        self._probe_name = readiness.upstream
        self._timeout = aiohttp.ClientTimeout(total=readiness.timeout_seconds)
        self._session = session
        self._keys = keys

    async def respond(self, name: str, request_id: str) -> web.Response:
        if name == "readyz":
            return await self.ready(request_id)
        return _json(200, {"status": "ok"})

    async def ready(self, request_id: str) -> web.Response:
        """200 only when the upstream answers and every key source holds keys."""
        keys = self._keys.readiness()
        checks = {self._probe_name: await self._upstream_answers(), "keys": all(keys.values())}
        if all(checks.values()):
            return _json(200, {"status": "ready", "checks": checks, "key_sources": keys})
        body = {
            "error": "unavailable",
            "message": "not ready: " + ", ".join(name for name, ok in checks.items() if not ok),
            "request_id": request_id,
            "checks": checks,
            "key_sources": keys,
        }
        return _json(503, body)

    async def _upstream_answers(self) -> bool:
        try:
            async with self._session.get(
                self._probe_url, timeout=self._timeout, allow_redirects=False
            ) as response:
                await response.read()
                return 200 <= response.status < 300
        except (aiohttp.ClientError, TimeoutError):
            return False


def _json(status: int, body: object) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")
