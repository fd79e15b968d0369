"""Counting requests in flight, so a shutdown can wait for them to finish."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from gateway.request_context import Handler


class InFlight:
    def __init__(self) -> None:
        self.count = 0
        # Set when shutting down: every response from then on closes its connection.
        self.draining = False
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.count += 1
        self._idle.clear()

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0:
            self._idle.set()

    async def wait_idle(self, seconds: float) -> bool:
        try:
            async with asyncio.timeout(seconds):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True


def inflight_middleware(counter: InFlight) -> Any:
    @web.middleware
    async def inflight(request: web.Request, handler: Handler) -> web.StreamResponse:
        counter.enter()
        try:
            response = await handler(request)
        finally:
            counter.leave()
        if counter.draining:
            response.force_close()
        return response

    return inflight
