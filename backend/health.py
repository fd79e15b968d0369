"""Liveness (`/healthz`, the process answers) and readiness (`/readyz`, the database answers)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import orjson
import structlog
from aiohttp import web
from sqlalchemy import text

from backend.db import Database
from service_plumbing.errors import ApiError

log = structlog.get_logger("backend")

READINESS_CACHE_SECONDS = 1.0
# Below the gateway's probe timeout (2 s), so the gateway hears "not ready", not silence.
READINESS_TIMEOUT_SECONDS = 1.5


class Readiness:
    """Whether the database answers, asked at most once a second however many probes come.

    Probes that arrive while a check runs wait for that check instead of starting their own.
    """

    def __init__(
        self,
        database: Database,
        *,
        cache_seconds: float = READINESS_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._database = database
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._checked_at: float | None = None
        self._ready = False
        self._lock = asyncio.Lock()

    async def ready(self) -> bool:
        async with self._lock:
            now = self._clock()
            if self._checked_at is None or now - self._checked_at >= self._cache_seconds:
                self._ready = await self._database_answers()
                self._checked_at = self._clock()
            return self._ready

    async def _database_answers(self) -> bool:
        try:
            async with asyncio.timeout(READINESS_TIMEOUT_SECONDS):
                async with self._database.reading() as connection:
                    await connection.execute(text("SELECT 1"))
        except Exception as error:  # any failure means "not ready"; the probe says so, not a 500
            if not isinstance(error, ApiError):  # ApiError's cause was logged where it was made
                log.warning("readiness_check_failed", error=type(error).__name__)
            return False
        return True


READINESS = web.AppKey("readiness", Readiness)


async def healthz(_: web.Request) -> web.Response:
    return _json({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    if not await request.app[READINESS].ready():
        raise ApiError(503, "not ready: the database does not answer", reason="database")
    return _json({"status": "ready"})


def _json(body: object) -> web.Response:
    return web.Response(body=orjson.dumps(body), content_type="application/json")
