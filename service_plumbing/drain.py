"""Graceful shutdown shared by both services: count requests in flight, then drain them.

aiohttp's `AppRunner.cleanup()` closes connections before waiting for requests, which loses a
request whose body is still arriving. So shutdown is: stop listening, answer with
`Connection: close` from then on, wait (bounded) for requests in flight, then clean up.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from aiohttp import web

from service_plumbing.handlers import Handler


class InFlight:
    """Counts requests being handled, so a shutdown can wait for them."""

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


async def drain(
    runner: web.BaseRunner, site: web.BaseSite, inflight: InFlight, *, grace: float, service: str
) -> None:
    """Stop accepting, let requests in flight finish (at most `grace` seconds), clean up."""
    log = structlog.get_logger(service)
    await site.stop()
    # Connections stay open: aiohttp drops bytes arriving on a closing connection, which would
    # lose a body still on its way. Responses from now on close their connection instead.
    inflight.draining = True
    log.info("draining", in_flight=inflight.count, grace_seconds=grace)
    if not await inflight.wait_idle(grace):
        log.warning("grace_expired", in_flight=inflight.count)
    await runner.cleanup()
    log.info("stopped")
